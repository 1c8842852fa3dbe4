import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * History written with the state (issue 19, step 2): the statements that change a job's status now
 * insert its `job_events` rows themselves, three per no-op job on the hot path, so the table keeps
 * only what those inserts need (docs/performance.md, "Step 2: history written with the state").
 *
 * - The foreign key to `jobs` goes: every writer inserts a job's history in the statement or
 *   transaction that changes (and so locks) the job row, or checks that the job exists (the
 *   outbox's and the tracker's writes), and every delete of jobs deletes their history in the same
 *   statement (retention, the dead-letter discards). Its check was a lookup in `jobs` per history
 *   row — half of an insert's time.
 * - The bigserial `id` goes: nothing reads it; (job_id, seq), already unique, becomes the primary
 *   key (the index is kept, renamed `job_events_pkey`), which saves a sequence call and a second
 *   index insertion per row.
 *
 * Only catalogue changes: no row is rewritten (DROP COLUMN marks the column dropped).
 */
export class HistoryWithState1700000018200 implements MigrationInterface {
  name = 'HistoryWithState1700000018200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE job_events DROP CONSTRAINT job_events_job_id_fkey`);
    await q.query(`ALTER TABLE job_events DROP CONSTRAINT job_events_pkey`);
    await q.query(`ALTER TABLE job_events DROP COLUMN id`);
    await q.query(
      `ALTER TABLE job_events ADD CONSTRAINT job_events_pkey PRIMARY KEY USING INDEX job_events_job_seq`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE job_events DROP CONSTRAINT job_events_pkey`);
    await q.query(`CREATE UNIQUE INDEX job_events_job_seq ON job_events (job_id, seq)`);
    await q.query(`ALTER TABLE job_events ADD COLUMN id bigserial PRIMARY KEY`);
    await q.query(`DELETE FROM job_events e WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.id = e.job_id)`);
    await q.query(
      `ALTER TABLE job_events ADD CONSTRAINT job_events_job_id_fkey
         FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE CASCADE`,
    );
  }
}
