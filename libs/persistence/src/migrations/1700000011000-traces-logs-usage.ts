import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Traces, job logs and the usage ledger (issue 21).
 *
 * - `jobs.traceparent`/`tracestate`: the W3C trace context of the job's insert span, so every
 *   release and every attempt (a retry hours later too) joins the job's trace; NULL while tracing
 *   is off. `attempt_traceparent`: the last failed attempt's span, which the next one links to.
 * - `job_logs`: `ctx.log` lines per job and attempt (deleted with their job, by cascade), and
 *   `job_log_overflow`: lines an attempt logged beyond JOB_LOG_MAX_LINES, counted.
 * - `usage_daily`: the usage ledger, summed per UTC day, tenant, job type and unit (kept when the
 *   jobs are purged: it is what a tenant used, not job state). `tenant_budgets`: monthly limits.
 */
export class TracesLogsUsage1700000011000 implements MigrationInterface {
  name = 'TracesLogsUsage1700000011000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE jobs
        ADD COLUMN traceparent text,
        ADD COLUMN tracestate text,
        ADD COLUMN attempt_traceparent text`);
    await q.query(`
      CREATE TABLE job_logs (
        id bigserial PRIMARY KEY,
        job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        attempt int NOT NULL,
        level text NOT NULL,
        message text NOT NULL,
        fields jsonb,
        at timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX job_logs_job ON job_logs (job_id, id)`);
    await q.query(`
      CREATE TABLE job_log_overflow (
        job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        attempt int NOT NULL,
        dropped int NOT NULL,
        PRIMARY KEY (job_id, attempt)
      )`);
    await q.query(`
      CREATE TABLE usage_daily (
        day date NOT NULL,
        tenant text NOT NULL,
        type text NOT NULL,
        unit text NOT NULL,
        amount numeric NOT NULL,
        jobs bigint NOT NULL,
        PRIMARY KEY (day, tenant, type, unit)
      )`);
    await q.query(`CREATE INDEX usage_daily_tenant ON usage_daily (tenant, unit, day)`);
    await q.query(`
      CREATE TABLE tenant_budgets (
        tenant text NOT NULL,
        unit text NOT NULL,
        per_month numeric NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant, unit)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE tenant_budgets`);
    await q.query(`DROP TABLE usage_daily`);
    await q.query(`DROP TABLE job_log_overflow`);
    await q.query(`DROP TABLE job_logs`);
    await q.query(`ALTER TABLE jobs DROP COLUMN traceparent, DROP COLUMN tracestate, DROP COLUMN attempt_traceparent`);
  }
}
