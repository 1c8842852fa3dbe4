import type { MigrationInterface, QueryRunner } from 'typeorm';

/** API keys, uploaded files, the durable level of the result cache, and indexes for wait estimates. */
export class GatewayApi1700000001000 implements MigrationInterface {
  name = 'GatewayApi1700000001000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE api_keys (
        id uuid PRIMARY KEY,
        tenant text NOT NULL,
        name text NOT NULL,
        -- SHA-256 of the key; the key itself is shown once and never stored.
        key_hash text NOT NULL UNIQUE,
        scopes text[] NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
      )`);
    await q.query(`CREATE INDEX api_keys_tenant ON api_keys (tenant)`);
    await q.query(`
      CREATE TABLE files (
        id uuid PRIMARY KEY,
        tenant text NOT NULL,
        name text,
        content_type text NOT NULL,
        size bigint NOT NULL,
        sha256 text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX files_tenant_created ON files (tenant, created_at DESC)`);
    await q.query(`
      CREATE TABLE result_cache (
        tenant text NOT NULL,
        request_hash text NOT NULL,
        job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        hits bigint NOT NULL DEFAULT 0,
        last_access_at timestamptz,
        PRIMARY KEY (tenant, request_hash)
      )`);
    await q.query(`CREATE INDEX result_cache_job ON result_cache (job_id)`);
    await q.query(`CREATE INDEX result_cache_expires ON result_cache (expires_at)`);
    // Queued jobs in start order per queue: the "ahead of this job" counts behind estimatedWaitMs.
    await q.query(
      `CREATE INDEX jobs_queued_order ON jobs (queue, priority DESC, created_at) WHERE status = 'queued'`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX jobs_queued_order`);
    await q.query(`DROP TABLE result_cache`);
    await q.query(`DROP TABLE files`);
    await q.query(`DROP TABLE api_keys`);
  }
}
