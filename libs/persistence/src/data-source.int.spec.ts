import type { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '@switchyard/testing';
import { createDataSource, runMigrations } from './data-source';
import { poolOf } from './pool';

describe('the services connection pool against PostgreSQL', () => {
  let database: TestDatabase;
  let db: DataSource;

  beforeAll(async () => {
    database = await createTestDatabase(runMigrations);
    db = createDataSource(database.url, { poolSize: 2, applicationName: 'switchyard-test' });
    await db.initialize();
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  it('turns JIT compilation off on every connection, through TypeORM and the raw pool alike', async () => {
    const viaTypeorm: { jit: string }[] = await db.query('SHOW jit');
    expect(viaTypeorm[0]?.jit).toBe('off');
    // Both connections of the pool, held at once so that neither is reused for the other read.
    const pool = poolOf(db);
    const [a, b] = await Promise.all([pool.connect(), pool.connect()]);
    try {
      for (const client of [a, b]) expect((await client.query('SHOW jit')).rows[0]).toEqual({ jit: 'off' });
    } finally {
      a.release();
      b.release();
    }
  });

  it('runs named statements with their generic plan from the first call, on every connection', async () => {
    const pool = poolOf(db);
    const [a, b] = await Promise.all([pool.connect(), pool.connect()]);
    try {
      for (const client of [a, b]) {
        expect((await client.query('SHOW plan_cache_mode')).rows[0]).toEqual({
          plan_cache_mode: 'force_generic_plan',
        });
        // PostgreSQL's default plans a prepared statement's first five calls with their values.
        for (let i = 0; i < 3; i++)
          await client.query({
            name: 'generic_probe',
            text: 'SELECT id FROM jobs WHERE id = ANY($1::uuid[])',
            values: [[]],
          });
        const { rows } = await client.query(
          `SELECT generic_plans::int AS generic, custom_plans::int AS custom
           FROM pg_prepared_statements WHERE name = 'generic_probe'`,
        );
        expect(rows).toEqual([{ generic: 3, custom: 0 }]);
      }
    } finally {
      a.release();
      b.release();
    }
  });
});
