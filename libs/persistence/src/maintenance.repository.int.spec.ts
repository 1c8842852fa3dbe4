import type { DataSource } from 'typeorm';
import { createTestDatabase, waitFor, type TestDatabase } from '@switchyard/testing';
import { createDataSource, runMigrations } from './data-source';
import { MaintenanceRepository } from './maintenance.repository';
import { UNPLANNED_JOB_COLUMNS } from './migrations/1700000020000-jobs-unplanned-columns';
import {
  JOB_EXPRESSION_INDEXES,
  JOBS_STATISTICS_TARGET,
  PLANNED_JOB_COLUMNS,
} from './migrations/1700000021000-jobs-statistics-sample';

describe('table maintenance against PostgreSQL', () => {
  let database: TestDatabase;
  let db: DataSource;
  let maintenance: MaintenanceRepository;

  beforeAll(async () => {
    database = await createTestDatabase(runMigrations);
    db = createDataSource(database.url, { poolSize: 2 });
    await db.initialize();
    maintenance = new MaintenanceRepository(db);
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  it('the migrating role may vacuum the hot tables, which carry the eager autovacuum settings', async () => {
    await expect(maintenance.mayVacuum()).resolves.toBe(true);
    const rows: { relname: string; reloptions: string[] }[] = await db.query(
      `SELECT relname, reloptions FROM pg_class WHERE relname IN ('jobs', 'outbox') ORDER BY relname`,
    );
    for (const row of rows) {
      expect(row.reloptions).toEqual(
        expect.arrayContaining(['autovacuum_vacuum_threshold=2000', 'autovacuum_vacuum_scale_factor=0.02']),
      );
    }
  });

  it('ANALYZE leaves out the jobs columns no statement selects on, and samples the others (and the expression indexes) at the smaller target', async () => {
    const rows: { attname: string; attstattarget: number }[] = await db.query(
      `SELECT attname, attstattarget FROM pg_attribute
       WHERE attrelid = 'jobs'::regclass AND attnum > 0 AND NOT attisdropped`,
    );
    const target = new Map(rows.map((r) => [r.attname, r.attstattarget]));
    for (const column of UNPLANNED_JOB_COLUMNS) expect([column, target.get(column)]).toEqual([column, 0]);
    for (const column of PLANNED_JOB_COLUMNS)
      expect([column, target.get(column)]).toEqual([column, JOBS_STATISTICS_TARGET]);
    // Every column is in one list or the other: a new one at the default (-1, i.e. 100) would bring
    // ANALYZE's 30,000-row sample back (see the JobsStatisticsSample migration).
    expect([...target.keys()].sort()).toEqual([...UNPLANNED_JOB_COLUMNS, ...PLANNED_JOB_COLUMNS].sort());
    const expressions: { index: string; attstattarget: number }[] = await db.query(
      `SELECT c.relname AS index, a.attstattarget FROM pg_index i
       JOIN pg_class c ON c.oid = i.indexrelid
       JOIN pg_attribute a ON a.attrelid = i.indexrelid AND a.attnum > 0
       WHERE i.indrelid = 'jobs'::regclass AND i.indexprs IS NOT NULL`,
    );
    expect(expressions.map((e) => [e.index, e.attstattarget])).toEqual(
      JOB_EXPRESSION_INDEXES.map((index) => [index, JOBS_STATISTICS_TARGET]),
    );
  });

  it('reads the dead rows an update left, and a vacuum removes them', async () => {
    await db.query(
      `INSERT INTO jobs (id, tenant, type, queue, status, priority, max_attempts, timeout_ms, correlation_id,
         request_hash, payload)
       SELECT gen_random_uuid(), 't', 'synthetic', 'default', 'queued', 0, 3, 60000, 'c', '', '{}'::jsonb
       FROM generate_series(1, 500)`,
    );
    await db.query(`UPDATE jobs SET status = 'running', started_at = now() WHERE tenant = 't'`);
    // This session's counters reach the shared statistics at once (others within about a second).
    const jobsChurn = async () => {
      await db.query('SELECT pg_stat_force_next_flush()');
      return (await maintenance.churn()).find((c) => c.table === 'jobs');
    };
    const before = await waitFor(async () => {
      const found = await jobsChurn();
      return found && found.dead >= 500 ? found : undefined;
    });
    expect(before).toMatchObject({ table: 'jobs', live: 500 });
    expect(before.insertedSinceVacuum).toBeGreaterThanOrEqual(500);
    expect(before.modifiedSinceAnalyze).toBeGreaterThanOrEqual(1000);

    await maintenance.vacuum('jobs', true);
    const after = await waitFor(async () => {
      const found = await jobsChurn();
      return found && found.dead === 0 ? found : undefined;
    });
    // The planner's count of the table (what its cached plans are made for) is the vacuum's.
    expect(after).toMatchObject({ dead: 0, insertedSinceVacuum: 0, modifiedSinceAnalyze: 0, planned: 500 });
    const [stats]: { vacuumed: boolean; analyzed: boolean }[] = await db.query(
      `SELECT last_vacuum IS NOT NULL AS vacuumed, last_analyze IS NOT NULL AS analyzed
       FROM pg_stat_user_tables WHERE relname = 'jobs'`,
    );
    expect(stats).toEqual({ vacuumed: true, analyzed: true });
  });

  it('vacuums only the hot tables', async () => {
    await expect(maintenance.vacuum('api_keys' as never, false)).rejects.toThrow('not a hot table');
  });
});
