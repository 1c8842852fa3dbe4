import type { MigrationInterface, QueryRunner } from 'typeorm';
import type { JobRow } from '../job-row';

/**
 * The statistics target of the `jobs` columns that statements select on, and of the expression
 * index `jobs_payload_file`. ANALYZE samples 300 × the largest target of a table's columns and
 * expression indexes: 30,000 rows at PostgreSQL's default of 100, whatever the column count. The
 * table maintenance analyzes `jobs` every few seconds under load (and autovacuum where it runs),
 * in one burst of CPU: on 30,000 jobs 117–210 ms at 100 against 40–50 ms at 30
 * (docs/performance.md). At 30, 9,000 sampled rows still hold every status, queue and priority in
 * the most-common-values lists, and the release statement's cost did not change (bench/release-cost).
 * A column added to `jobs` later takes the default of 100 and brings the large sample back: give it
 * 0 (no statement selects on it) or this target; the maintenance integration test checks it.
 */
export const JOBS_STATISTICS_TARGET = 30;

/** Every `jobs` column that statements filter, join, group or sort on (all but the unplanned ones). */
export const PLANNED_JOB_COLUMNS = [
  'id',
  'tenant',
  'type',
  'queue',
  'status',
  'priority',
  'attempts',
  'idempotency_key',
  'request_hash',
  'payload',
  'error',
  'created_at',
  'started_at',
  'finished_at',
  'next_attempt_at',
  'cancel_requested',
  'dead_lettered',
  'lease_owner',
  'lease_expires_at',
  'progress_seq',
  'dispatched_at',
  'run_at',
  'schedule_id',
  'scheduled_for',
  'flow_id',
  'ref',
  'on_dependency_failure',
  'pending_deps',
  'spawned_by',
  'concurrency_key',
  'webhook_url',
  'rate_key',
] as const satisfies readonly (keyof JobRow)[];

/** Expression indexes of `jobs` (ANALYZE samples for their statistics too). */
export const JOB_EXPRESSION_INDEXES = ['jobs_payload_file'];

function setTargets(target: number): string[] {
  return [
    `ALTER TABLE jobs ${PLANNED_JOB_COLUMNS.map((c) => `ALTER COLUMN ${c} SET STATISTICS ${target}`).join(', ')}`,
    ...JOB_EXPRESSION_INDEXES.map((index) => `ALTER INDEX ${index} ALTER COLUMN 1 SET STATISTICS ${target}`),
  ];
}

export class JobsStatisticsSample1700000021000 implements MigrationInterface {
  name = 'JobsStatisticsSample1700000021000';

  async up(q: QueryRunner): Promise<void> {
    for (const statement of setTargets(JOBS_STATISTICS_TARGET)) await q.query(statement);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const statement of setTargets(-1)) await q.query(statement);
  }
}
