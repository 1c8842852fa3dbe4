import type { Pool } from 'pg';
import type { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '@switchyard/testing';
import { createDataSource, runMigrations } from './data-source';
import { JobQueriesRepository } from './job-queries.repository';
import { JobsRepository } from './jobs.repository';

/** The jobs indexes a job's versions write entries to (docs/performance.md, issue #19). */
describe('jobs index entries against PostgreSQL', () => {
  let database: TestDatabase;
  let db: DataSource;

  beforeAll(async () => {
    database = await createTestDatabase(runMigrations);
    db = createDataSource(database.url, { poolSize: 2 });
    await db.initialize();
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  /** Live entries of an index as the last VACUUM counted them. */
  const entries = async (index: string): Promise<number> => {
    const rows: { reltuples: number }[] = await db.query(
      `SELECT reltuples FROM pg_class WHERE relname = $1`,
      [index],
    );
    return Number(rows[0]?.reltuples);
  };

  it('a completed job leaves jobs_tenant_status, which still counts every unfinished status', async () => {
    await db.query(
      `INSERT INTO jobs (id, tenant, type, queue, status, priority, max_attempts, timeout_ms, correlation_id,
         request_hash, payload)
       SELECT gen_random_uuid(), 'entries', 'synthetic', 'default', s, 5, 3, 60000, 'c', '', '{}'::jsonb
       FROM unnest(ARRAY['queued', 'queued', 'running', 'retrying', 'scheduled', 'failed', 'queued']) AS s`,
    );
    // Two of the queued jobs run to completion as the worker's statements take them: new versions.
    await db.query(
      `UPDATE jobs SET status = 'running' WHERE id IN (SELECT id FROM jobs WHERE status = 'queued' LIMIT 2)`,
    );
    await db.query(`UPDATE jobs SET status = 'completed', finished_at = now() WHERE status = 'running'`);
    await db.query('VACUUM jobs');

    expect(await entries('jobs_tenant_created')).toBe(7);
    // completed: 3 (two from the queue, the one that was running); the 4 others are indexed.
    expect(await entries('jobs_tenant_status')).toBe(4);
    const queries = new JobQueriesRepository(db);
    expect((await queries.activeCounts(['entries'], 100)).get('entries')).toBe(2);
    expect((await queries.scheduledCounts(['entries'], 100)).get('entries')).toBe(1);
  });

  it('a worker turn claims its rows by primary key, even in a generic plan, not through an index of the backlog', async () => {
    // Statistics taken when the backlog was nearly empty (a table of finished jobs), then a
    // backlog: the state a kept generic plan meets. jobs_tenant_status holds only unfinished jobs,
    // so to that plan it looks like a tiny index to scan whole.
    const insert = (n: number, status: string) =>
      db.query(
        `INSERT INTO jobs (id, tenant, type, queue, status, priority, max_attempts, timeout_ms, correlation_id,
           request_hash, payload, finished_at)
         SELECT gen_random_uuid(), 'backlog-' || (i % 50), 'synthetic', 'default', $2, 5, 3, 60000, 'c', '',
           '{}'::jsonb, CASE WHEN $2 = 'completed' THEN now() END
         FROM generate_series(1, $1::int) i`,
        [n, status],
      );
    await insert(5000, 'completed');
    await insert(2, 'queued');
    await db.query('ANALYZE jobs');
    await insert(2000, 'queued');
    const ids: { id: string }[] = await db.query(
      `SELECT id FROM jobs WHERE status = 'queued' AND tenant LIKE 'backlog-%' LIMIT 8`,
    );
    // One connection whose plans are generic (as a prepared statement's become) and logged.
    const single = createDataSource(database.url, { poolSize: 1 });
    await single.initialize();
    try {
      const client = await (single.driver as unknown as { master: Pool }).master.connect();
      const plans: string[] = [];
      client.on('notice', (notice) => plans.push(String(notice.message)));
      await client.query(
        `LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET plan_cache_mode = force_generic_plan;
         SET client_min_messages = log`,
      );
      client.release();
      // The worker's turn: one completion (a job it runs) and seven claims in one statement.
      const [running] = ids.splice(0, 1);
      await db.query(`UPDATE jobs SET status = 'running', lease_owner = 'index-test' WHERE id = $1`, [
        running.id,
      ]);
      const turn = await new JobsRepository(single).completeAndClaim(
        'index-test',
        60_000,
        [{ jobId: running.id, result: null, resultUrl: null, last: { step: null, message: null } }],
        ids.map((r) => r.id),
      );
      expect(turn.completed.filter(Boolean)).toHaveLength(1);
      expect(turn.claimed.filter(Boolean)).toHaveLength(7);
      const claim = plans.find((p) => p.includes('claimed AS'));
      expect(claim).toContain('jobs_pkey');
      expect(claim).not.toContain('jobs_tenant_status');
    } finally {
      await single.destroy();
    }
  });
});
