import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Flows (SPEC §11): jobs that depend on jobs. A flow row groups its jobs; `job_dependencies` holds
 * the edges (job → a job it depends on), `resolved` once that dependency stopped holding the job
 * back. A job with unresolved dependencies is `waiting`; `pending_deps` counts them, so the last
 * dependency to finish (a conditional decrement under the row lock) is the one that queues it.
 * `spawned_by`/`spawn_index` key the children a handler spawns: a re-run of the handler (a worker
 * killed mid-job) finds them instead of creating them again. A flow retry keeps counting attempts
 * (so `ctx.attempt` grows) and grants each re-run job its budget again: `attempts_base` is the
 * attempts count when that budget started (max_attempts − attempts_base is the per-run budget).
 */
export class Flows1700000010000 implements MigrationInterface {
  name = 'Flows1700000010000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE flows (
        id uuid PRIMARY KEY,
        tenant text NOT NULL,
        name text,
        metadata jsonb NOT NULL DEFAULT '{}',
        idempotency_key text,
        request_hash text NOT NULL DEFAULT '',
        correlation_id text NOT NULL,
        cancelled_at timestamptz(3),
        created_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(
      `CREATE UNIQUE INDEX flows_idempotency ON flows (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL`,
    );
    await q.query(`CREATE INDEX flows_tenant_created ON flows (tenant, created_at DESC, id DESC)`);
    await q.query(`CREATE INDEX flows_created ON flows (created_at DESC, id DESC)`);
    await q.query(`ALTER TABLE jobs DROP CONSTRAINT jobs_status_check`);
    await q.query(
      `ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
         CHECK (status IN ('scheduled','waiting','queued','running','retrying','completed','failed','cancelled'))`,
    );
    await q.query(
      `ALTER TABLE jobs ADD COLUMN flow_id uuid, ADD COLUMN ref text,
         ADD COLUMN on_dependency_failure text NOT NULL DEFAULT 'fail'
           CHECK (on_dependency_failure IN ('fail','run','skip')),
         ADD COLUMN pending_deps int NOT NULL DEFAULT 0,
         ADD COLUMN spawned_by uuid, ADD COLUMN spawn_index int,
         ADD COLUMN attempts_base int NOT NULL DEFAULT 0`,
    );
    // A flow's jobs by ref (unique within the flow), and its members for views and cancels.
    await q.query(`CREATE UNIQUE INDEX jobs_flow_ref ON jobs (flow_id, ref) WHERE flow_id IS NOT NULL`);
    await q.query(
      `CREATE UNIQUE INDEX jobs_spawned ON jobs (spawned_by, spawn_index) WHERE spawned_by IS NOT NULL`,
    );
    await q.query(`
      CREATE TABLE job_dependencies (
        job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        depends_on uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        resolved boolean NOT NULL DEFAULT false,
        PRIMARY KEY (job_id, depends_on)
      )`);
    // A finished job's dependants.
    await q.query(`CREATE INDEX job_dependencies_upstream ON job_dependencies (depends_on)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE job_dependencies`);
    // Waiting jobs have no earlier equivalent: they end cancelled.
    await q.query(`UPDATE jobs SET status = 'cancelled', finished_at = now() WHERE status = 'waiting'`);
    await q.query(`DROP INDEX jobs_spawned`);
    await q.query(`DROP INDEX jobs_flow_ref`);
    await q.query(
      `ALTER TABLE jobs DROP COLUMN flow_id, DROP COLUMN ref, DROP COLUMN on_dependency_failure,
         DROP COLUMN pending_deps, DROP COLUMN spawned_by, DROP COLUMN spawn_index, DROP COLUMN attempts_base`,
    );
    await q.query(`ALTER TABLE jobs DROP CONSTRAINT jobs_status_check`);
    await q.query(
      `ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
         CHECK (status IN ('scheduled','queued','running','retrying','completed','failed','cancelled'))`,
    );
    await q.query(`DROP TABLE flows`);
  }
}
