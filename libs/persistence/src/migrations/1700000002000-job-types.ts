import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The job-type registry: workers publish the definitions of the types they run (built in and
 * loaded from WORKER_HANDLER_MODULES) so the gateway can validate types it was not built with.
 */
export class JobTypes1700000002000 implements MigrationInterface {
  name = 'JobTypes1700000002000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE job_types (
        type text PRIMARY KEY,
        queue text NOT NULL,
        -- JSON Schema of the payload, as the gateway compiles it (Ajv).
        payload_schema jsonb NOT NULL,
        -- The static defaults: timeoutMs, maxAttempts, priority, cacheable, retryTimeouts.
        defaults jsonb NOT NULL DEFAULT '{}',
        -- Defaults the module computes from the payload; the gateway cannot evaluate them.
        computed_defaults text[] NOT NULL DEFAULT '{}',
        -- "built-in" or the module that defines the type, for operators.
        source text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        -- Changes only when the definition does, so readers can reload on a newer value.
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE job_types`);
  }
}
