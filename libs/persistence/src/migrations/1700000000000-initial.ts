import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Initial1700000000000 implements MigrationInterface {
  name = 'Initial1700000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE jobs (
        id uuid PRIMARY KEY,
        tenant text NOT NULL,
        type text NOT NULL,
        queue text NOT NULL,
        status text NOT NULL CHECK (status IN ('queued','running','retrying','completed','failed','cancelled')),
        priority smallint NOT NULL CHECK (priority BETWEEN 0 AND 9),
        step text,
        progress real NOT NULL DEFAULT 0,
        message text,
        attempts int NOT NULL DEFAULT 0,
        max_attempts int NOT NULL,
        timeout_ms int NOT NULL,
        correlation_id text NOT NULL,
        idempotency_key text,
        request_hash text NOT NULL,
        payload jsonb NOT NULL,
        metadata jsonb NOT NULL DEFAULT '{}',
        result jsonb,
        result_url text,
        error jsonb,
        -- Millisecond precision, like the API's ISO times, so list cursors compare exactly.
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        started_at timestamptz,
        finished_at timestamptz,
        next_attempt_at timestamptz,
        cancel_requested boolean NOT NULL DEFAULT false,
        dead_lettered boolean NOT NULL DEFAULT false,
        lease_owner text,
        lease_expires_at timestamptz,
        event_seq bigint NOT NULL DEFAULT 1,
        progress_seq bigint NOT NULL DEFAULT 0
      )`);
    await q.query(`CREATE INDEX jobs_tenant_created ON jobs (tenant, created_at DESC, id DESC)`);
    await q.query(`CREATE INDEX jobs_tenant_status ON jobs (tenant, status)`);
    await q.query(`CREATE INDEX jobs_active_lease ON jobs (lease_expires_at) WHERE status = 'running'`);
    await q.query(`CREATE INDEX jobs_retry_due ON jobs (next_attempt_at) WHERE status = 'retrying'`);
    await q.query(`CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL`);
    await q.query(
      `CREATE UNIQUE INDEX jobs_idempotency ON jobs (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL`,
    );
    await q.query(`CREATE INDEX jobs_request_hash ON jobs (tenant, request_hash, created_at DESC)`);
    await q.query(`
      CREATE TABLE job_events (
        id bigserial PRIMARY KEY,
        job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        seq bigint NOT NULL,
        event text NOT NULL,
        status text NOT NULL,
        step text,
        progress real NOT NULL,
        message text,
        attempt int NOT NULL,
        error jsonb,
        correlation_id text NOT NULL,
        created_at timestamptz NOT NULL
      )`);
    await q.query(`CREATE UNIQUE INDEX job_events_job_seq ON job_events (job_id, seq)`);
    await q.query(`
      CREATE TABLE outbox (
        id bigserial PRIMARY KEY,
        job_id uuid,
        exchange text NOT NULL,
        routing_key text NOT NULL,
        body jsonb NOT NULL,
        properties jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX outbox_created ON outbox (created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE outbox`);
    await q.query(`DROP TABLE job_events`);
    await q.query(`DROP TABLE jobs`);
  }
}
