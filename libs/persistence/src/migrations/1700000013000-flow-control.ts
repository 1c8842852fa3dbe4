import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Flow control (SPEC §11). Fair share: `jobs_backlog` is ordered by tenant within a queue and
 * priority, so the release statement reads each tenant's backlog per level in submission order and
 * interleaves tenants (one tenant: the same range scans as before); `tenant_weights` holds the weights.
 * Per-key concurrency: a job may carry `concurrency_key`; `concurrency_limits` holds
 * the `max` of a key (no row: no limit). Keyed jobs leave the `jobs_backlog` index, so the
 * release statement of unkeyed jobs (the hot path) reads exactly what it read before; keyed ones
 * are read through indexes of their own, which an unkeyed row never enters (partial indexes), and
 * the end of a keyed job wakes the dispatchers of its queue (`switchyard_keyed`, from a trigger
 * that fires only for keyed rows).
 */
export class FlowControl1700000013000 implements MigrationInterface {
  name = 'FlowControl1700000013000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE jobs ADD COLUMN concurrency_key text
         CONSTRAINT jobs_concurrency_key_length CHECK (char_length(concurrency_key) BETWEEN 1 AND 128)`,
    );
    await q.query(
      `CREATE TABLE concurrency_limits (
         key text PRIMARY KEY CHECK (char_length(key) BETWEEN 1 AND 128),
         max int NOT NULL CHECK (max BETWEEN 0 AND 1000000),
         updated_at timestamptz(3) NOT NULL DEFAULT now()
       )`,
    );
    await q.query(`DROP INDEX jobs_backlog`);
    await q.query(
      `CREATE INDEX jobs_backlog ON jobs (queue, priority, tenant, created_at) INCLUDE (id)
         WHERE status = 'queued' AND dispatched_at IS NULL AND concurrency_key IS NULL`,
    );
    await q.query(
      `CREATE TABLE tenant_weights (
         tenant text PRIMARY KEY,
         weight int NOT NULL CHECK (weight BETWEEN 1 AND 1000),
         updated_at timestamptz(3) NOT NULL DEFAULT now()
       )`,
    );
    await q.query(
      `CREATE INDEX jobs_keyed_backlog ON jobs (queue, concurrency_key, priority, created_at) INCLUDE (id)
         WHERE status = 'queued' AND dispatched_at IS NULL AND concurrency_key IS NOT NULL`,
    );
    // In use: released (not claimed yet), running, or retrying (a retry comes back through the
    // retry queue, not the dispatcher, so its slot is kept over the backoff).
    await q.query(
      `CREATE INDEX jobs_keyed_active ON jobs (concurrency_key)
         WHERE concurrency_key IS NOT NULL
           AND (status IN ('running', 'retrying') OR (status = 'queued' AND dispatched_at IS NOT NULL))`,
    );
    await q.query(
      `CREATE FUNCTION jobs_keyed_slot_freed() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         PERFORM pg_notify('switchyard_keyed', NEW.queue);
         RETURN NULL;
       END $$`,
    );
    await q.query(
      `CREATE TRIGGER jobs_keyed_slot_freed AFTER UPDATE OF status ON jobs FOR EACH ROW
         WHEN (OLD.concurrency_key IS NOT NULL AND OLD.status IN ('running', 'retrying', 'queued')
               AND NEW.status IN ('completed', 'failed', 'cancelled', 'queued')
               AND (OLD.status <> 'queued' OR NEW.status <> 'queued'))
         EXECUTE FUNCTION jobs_keyed_slot_freed()`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER jobs_keyed_slot_freed ON jobs`);
    await q.query(`DROP FUNCTION jobs_keyed_slot_freed()`);
    await q.query(`DROP INDEX jobs_keyed_active`);
    await q.query(`DROP INDEX jobs_keyed_backlog`);
    await q.query(`DROP INDEX jobs_backlog`);
    await q.query(
      `CREATE INDEX jobs_backlog ON jobs (queue, priority, created_at) INCLUDE (id)
         WHERE status = 'queued' AND dispatched_at IS NULL`,
    );
    await q.query(`DROP TABLE tenant_weights`);
    await q.query(`DROP TABLE concurrency_limits`);
    await q.query(`ALTER TABLE jobs DROP COLUMN concurrency_key`);
  }
}
