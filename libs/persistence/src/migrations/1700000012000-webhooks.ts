import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Webhook endpoints (per tenant) and their deliveries. A delivery row is the durable record of one
 * event to send to one endpoint: the gateway's deliverer claims due rows, sends, and writes the
 * outcome, so a crash loses nothing and a retry keeps the same id (the `webhook-id` header).
 */
export class Webhooks1700000012000 implements MigrationInterface {
  name = 'Webhooks1700000012000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE webhook_endpoints (
        id uuid PRIMARY KEY,
        tenant text NOT NULL,
        url text NOT NULL,
        description text,
        event_types text[] NOT NULL,
        job_types text[] NOT NULL DEFAULT '{}',
        secret text NOT NULL,
        previous_secret text,
        previous_secret_until timestamptz,
        enabled boolean NOT NULL DEFAULT true,
        disabled_reason text,
        failing_since timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant, created_at)`);
    await q.query(`
      CREATE TABLE webhook_deliveries (
        id uuid PRIMARY KEY,
        endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
        event_id text NOT NULL,
        event_type text NOT NULL,
        job_id uuid NOT NULL,
        payload text NOT NULL,
        status text NOT NULL DEFAULT 'pending',
        attempts int NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        locked_until timestamptz,
        last_attempt_at timestamptz,
        last_response_status int,
        last_error text,
        retry_until timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (endpoint_id, event_id)
      )`);
    await q.query(
      `CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending'`,
    );
    await q.query(
      `CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at DESC, id)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE webhook_deliveries`);
    await q.query(`DROP TABLE webhook_endpoints`);
  }
}
