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
});
