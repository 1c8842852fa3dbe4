import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '@switchyard/testing';
import { createDataSource, runMigrations } from './data-source';
import { JobsRepository, type NewJob } from './jobs.repository';
import { DispatchRepository } from './dispatch.repository';

function newJob(overrides: Partial<NewJob> = {}): NewJob {
  return {
    id: randomUUID(),
    tenant: 'acme',
    type: 'synthetic',
    queue: 'default',
    priority: 5,
    maxAttempts: 3,
    timeoutMs: 60000,
    correlationId: 'corr-1',
    idempotencyKey: null,
    requestHash: '',
    payload: {},
    metadata: {},
    ...overrides,
  };
}

describe('DispatchRepository against PostgreSQL', () => {
  let database: TestDatabase;
  let db: DataSource;
  let jobs: JobsRepository;
  let dispatch: DispatchRepository;

  beforeAll(async () => {
    database = await createTestDatabase(runMigrations);
    db = createDataSource(database.url, { poolSize: 8 });
    await db.initialize();
    jobs = new JobsRepository(db);
    dispatch = new DispatchRepository(db, 'test');
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  it('smoke', async () => {
    await jobs.insertJobs([newJob({ priority: 1 }), newJob({ priority: 7 })], []);
    const r = await dispatch.releaseReady('default', 10, 60000);
    expect(r.map((j) => j.effectivePriority)).toEqual([7, 1]);
    expect(await dispatch.releaseReady('default', 10, 60000)).toEqual([]);
    expect(await dispatch.releasedCounts(['default', 'x'])).toEqual(
      new Map([
        ['default', 2],
        ['x', 0],
      ]),
    );
  });
});
