import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * When a job's dispatch message was last sent (insert, hand-back, re-dispatch): the tracker's
 * reconciler re-dispatches a `queued` job whose message was lost, and this column lets it look
 * only at jobs dispatched longer than REDISPATCH_AFTER_MS ago, through a partial index that holds
 * queued rows only.
 */
export class DispatchReconcile1700000004000 implements MigrationInterface {
  name = 'DispatchReconcile1700000004000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE jobs ADD COLUMN dispatched_at timestamptz NOT NULL DEFAULT now()`);
    await q.query(`CREATE INDEX jobs_queued_dispatched ON jobs (dispatched_at) WHERE status = 'queued'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX jobs_queued_dispatched`);
    await q.query(`ALTER TABLE jobs DROP COLUMN dispatched_at`);
  }
}
