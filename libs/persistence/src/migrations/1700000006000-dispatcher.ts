import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * PostgreSQL holds the backlog; the dispatcher releases ready jobs to RabbitMQ. `dispatched_at`
 * becomes the release mark: NULL while a `queued` job waits in PostgreSQL, the release time once
 * its message was sent and until a worker claims it. `scheduled` jobs wait for `run_at`.
 * `releases` counts every release of a job (re-releases included), `released_attempt` the attempt
 * a release was for. Queued rows already in RabbitMQ keep their time: they count as released.
 */
export class Dispatcher1700000006000 implements MigrationInterface {
  name = 'Dispatcher1700000006000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE jobs DROP CONSTRAINT jobs_status_check`);
    await q.query(
      `ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
         CHECK (status IN ('scheduled','queued','running','retrying','completed','failed','cancelled'))`,
    );
    await q.query(
      `ALTER TABLE jobs ALTER COLUMN dispatched_at DROP NOT NULL, ALTER COLUMN dispatched_at DROP DEFAULT`,
    );
    await q.query(
      `ALTER TABLE jobs ADD COLUMN run_at timestamptz(3), ADD COLUMN released_attempt int,
         ADD COLUMN releases int NOT NULL DEFAULT 0`,
    );
    await q.query(`UPDATE jobs SET released_attempt = attempts, releases = 1 WHERE status = 'queued'`);
    await q.query(`DROP INDEX jobs_queued_dispatched`);
    // Queued jobs are read through the two partial indexes below, whose predicates match the
    // queries exactly: with a third index over all queued jobs, a planner without fresh
    // statistics (a backlog that grew since the last ANALYZE) picked it and walked the whole
    // backlog for every release.
    await q.query(`DROP INDEX jobs_queued_order`);
    // The release scan reads candidates in order from this index alone (index-only: id is an
    // included column, not a key, so lookups by id still go to the primary key).
    await q.query(
      `CREATE INDEX jobs_backlog ON jobs (queue, priority, created_at) INCLUDE (id)
         WHERE status = 'queued' AND dispatched_at IS NULL`,
    );
    // The window count per queue and the re-release of messages nobody claimed.
    await q.query(
      `CREATE INDEX jobs_released ON jobs (queue, dispatched_at)
         WHERE status = 'queued' AND dispatched_at IS NOT NULL`,
    );
    await q.query(`CREATE INDEX jobs_scheduled_due ON jobs (run_at) WHERE status = 'scheduled'`);
  }

  async down(q: QueryRunner): Promise<void> {
    // Scheduled jobs have no earlier equivalent: they become queued (they then run at once).
    await q.query(`UPDATE jobs SET status = 'queued' WHERE status = 'scheduled'`);
    await q.query(`DROP INDEX jobs_scheduled_due`);
    await q.query(`DROP INDEX jobs_released`);
    await q.query(`DROP INDEX jobs_backlog`);
    await q.query(
      `CREATE INDEX jobs_queued_order ON jobs (queue, priority DESC, created_at) WHERE status = 'queued'`,
    );
    await q.query(`UPDATE jobs SET dispatched_at = now() WHERE dispatched_at IS NULL`);
    await q.query(
      `ALTER TABLE jobs ALTER COLUMN dispatched_at SET DEFAULT now(), ALTER COLUMN dispatched_at SET NOT NULL`,
    );
    await q.query(`ALTER TABLE jobs DROP COLUMN run_at, DROP COLUMN released_attempt, DROP COLUMN releases`);
    await q.query(`CREATE INDEX jobs_queued_dispatched ON jobs (dispatched_at) WHERE status = 'queued'`);
    await q.query(`ALTER TABLE jobs DROP CONSTRAINT jobs_status_check`);
    await q.query(
      `ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
         CHECK (status IN ('queued','running','retrying','completed','failed','cancelled'))`,
    );
  }
}
