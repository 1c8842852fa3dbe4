import type { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '@switchyard/testing';
import { createDataSource, runMigrations } from './data-source';
import { JobTypesRepository, type JobTypeRecord } from './job-types.repository';

const echo: JobTypeRecord = {
  type: 'echo',
  queue: 'default',
  payloadSchema: { type: 'object', properties: { message: { type: 'string', maxLength: 100 } } },
  defaults: { maxAttempts: 1, cacheable: false },
  computedDefaults: [],
  source: 'e2e/fixtures/handlers/echo.handler.js',
};

describe('JobTypesRepository against PostgreSQL', () => {
  let database: TestDatabase;
  let db: DataSource;
  let repo: JobTypesRepository;

  beforeAll(async () => {
    database = await createTestDatabase(runMigrations);
    db = createDataSource(database.url, { poolSize: 2 });
    await db.initialize();
    repo = new JobTypesRepository(db);
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  it('inserts, lists and updates definitions, moving updated_at only when one changes', async () => {
    expect(await repo.latestUpdate()).toBeNull();
    const analyze: JobTypeRecord = {
      type: 'audio.analyze',
      queue: 'analysis',
      payloadSchema: { type: 'object' },
      defaults: { cacheable: true, timeoutMs: 120000 },
      computedDefaults: ['priority'],
      source: 'built-in',
    };
    await repo.upsert([echo, analyze]);
    const first = await repo.list();
    expect(first.map(({ createdAt: _c, updatedAt: _u, ...r }) => r)).toEqual([analyze, echo]);

    // The same definitions again (another worker booting): nothing moves.
    await repo.upsert([echo, analyze]);
    const again = await repo.get('echo');
    expect(again?.updatedAt).toEqual(first[1].updatedAt);

    const changed = { ...echo, defaults: { maxAttempts: 2 } };
    await repo.upsert([changed]);
    const updated = await repo.get('echo');
    expect(updated).toMatchObject({ defaults: { maxAttempts: 2 }, queue: 'default' });
    expect(updated!.updatedAt.getTime()).toBeGreaterThan(first[1].updatedAt.getTime());
    expect((await repo.latestUpdate())?.getTime()).toBe(updated!.updatedAt.getTime());
    expect(await repo.get('missing')).toBeNull();
  });
});
