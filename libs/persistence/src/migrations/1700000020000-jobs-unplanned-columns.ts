import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `jobs` columns that no statement filters, joins or groups on: their values are written and
 * read back, never estimated. ANALYZE still sampled and summarized each of them (the table
 * maintenance analyzes `jobs` every few seconds under load, in one burst of CPU with its vacuum);
 * a statistics target of 0 leaves them out. The columns that statements do select on keep
 * theirs, so the planner's estimates, and the rows ANALYZE samples, do not change.
 */
export const UNPLANNED_JOB_COLUMNS = [
  'step',
  'progress',
  'message',
  'max_attempts',
  'timeout_ms',
  'correlation_id',
  'metadata',
  'result',
  'result_url',
  'event_seq',
  'released_attempt',
  'releases',
  'spawn_index',
  'attempts_base',
  'traceparent',
  'tracestate',
  'attempt_traceparent',
] as const;

export class JobsUnplannedColumns1700000020000 implements MigrationInterface {
  name = 'JobsUnplannedColumns1700000020000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE jobs ${UNPLANNED_JOB_COLUMNS.map((c) => `ALTER COLUMN ${c} SET STATISTICS 0`).join(', ')}`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE jobs ${UNPLANNED_JOB_COLUMNS.map((c) => `ALTER COLUMN ${c} SET STATISTICS -1`).join(', ')}`,
    );
  }
}
