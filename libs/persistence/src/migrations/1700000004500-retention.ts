import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Retention and parked events. The purge of jobs walks `jobs_finished` (finished_at) already;
 * uploads are purged by age once no job references them, so files get an index on their age and
 * jobs one on the `payload.fileId` they reference (partial: only jobs that reference a file).
 * `parked_events` keeps the events the progress-tracker could not write after several tries
 * (docs/operations.md): the event as JSON text (text, not jsonb, so an event holding U+0000 can
 * still be kept), the error and when.
 */
export class Retention1700000004500 implements MigrationInterface {
  name = 'Retention1700000004500';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX files_created ON files (created_at)`);
    await q.query(`CREATE INDEX jobs_payload_file ON jobs ((payload->>'fileId')) WHERE payload ? 'fileId'`);
    await q.query(`
      CREATE TABLE parked_events (
        id bigserial PRIMARY KEY,
        job_id uuid,
        seq bigint,
        event text NOT NULL,
        body text NOT NULL,
        error text NOT NULL,
        attempts int NOT NULL,
        parked_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX parked_events_parked_at ON parked_events (parked_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE parked_events`);
    await q.query(`DROP INDEX jobs_payload_file`);
    await q.query(`DROP INDEX files_created`);
  }
}
