import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Provider rate budgets (SPEC §11, issue #16). A job may carry `rate_key` (from its type's
 * `rateKey` default, e.g. `provider:<name>`). Rated jobs leave `jobs_backlog` as keyed ones did,
 * so the release statement of plain jobs reads exactly what it read before; rated jobs without a
 * concurrency key are read through `jobs_rated_backlog` (a job with both keys stays in
 * `jobs_keyed_backlog`: the per-key concurrency pass releases it). `rate_limits` holds a key's
 * budget (`per_minute`, `burst`; no row: no limit); `rate_buckets` its fleet-wide state: the
 * tokens left at `refilled_at` (NULL: a full bucket), the hold a provider's 429 set
 * (`held_until`), and the number of holds so far (the metrics service exports it).
 */
export class RateLimits1700000016000 implements MigrationInterface {
  name = 'RateLimits1700000016000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE jobs ADD COLUMN rate_key text
         CONSTRAINT jobs_rate_key_length CHECK (char_length(rate_key) BETWEEN 1 AND 128)`,
    );
    await q.query(
      `CREATE TABLE rate_limits (
         key text PRIMARY KEY CHECK (char_length(key) BETWEEN 1 AND 128),
         per_minute int NOT NULL CHECK (per_minute BETWEEN 0 AND 1000000),
         burst int NOT NULL CHECK (burst BETWEEN 1 AND 1000000),
         updated_at timestamptz(3) NOT NULL DEFAULT now()
       )`,
    );
    await q.query(
      `CREATE TABLE rate_buckets (
         key text PRIMARY KEY CHECK (char_length(key) BETWEEN 1 AND 128),
         tokens double precision,
         refilled_at timestamptz,
         held_until timestamptz,
         holds bigint NOT NULL DEFAULT 0
       )`,
    );
    await q.query(`DROP INDEX jobs_backlog`);
    await q.query(
      `CREATE INDEX jobs_backlog ON jobs (queue, priority, tenant, created_at) INCLUDE (id)
         WHERE status = 'queued' AND dispatched_at IS NULL AND concurrency_key IS NULL AND rate_key IS NULL`,
    );
    await q.query(
      `CREATE INDEX jobs_rated_backlog ON jobs (queue, rate_key, priority, created_at) INCLUDE (id)
         WHERE status = 'queued' AND dispatched_at IS NULL AND concurrency_key IS NULL AND rate_key IS NOT NULL`,
    );
    // The releases of a key in the last 60 s (a budget caps them at per_minute).
    await q.query(
      `CREATE INDEX jobs_rated_recent ON jobs (rate_key, dispatched_at)
         WHERE rate_key IS NOT NULL AND dispatched_at IS NOT NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX jobs_rated_recent`);
    await q.query(`DROP INDEX jobs_rated_backlog`);
    await q.query(`DROP INDEX jobs_backlog`);
    await q.query(
      `CREATE INDEX jobs_backlog ON jobs (queue, priority, tenant, created_at) INCLUDE (id)
         WHERE status = 'queued' AND dispatched_at IS NULL AND concurrency_key IS NULL`,
    );
    await q.query(`DROP TABLE rate_buckets`);
    await q.query(`DROP TABLE rate_limits`);
    await q.query(`ALTER TABLE jobs DROP COLUMN rate_key`);
  }
}
