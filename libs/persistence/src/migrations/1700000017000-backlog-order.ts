import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The backlog of plain jobs (no concurrency or rate key) per queue and priority in submission
 * order, whatever the tenant. The fair release reads the best jobs of a queue through it (ten index
 * ranges) and goes to `jobs_backlog` (ordered by tenant within a level) only for the tenants at the
 * effective priority where the batch is cut, so that what it reads no longer grows with
 * tenants × levels (docs/architecture.md, fair share). Like `jobs_backlog` it is partial: a job
 * leaves it when it is released.
 */
export class BacklogOrder1700000017000 implements MigrationInterface {
  name = 'BacklogOrder1700000017000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE INDEX jobs_backlog_order ON jobs (queue, priority, created_at) INCLUDE (id, tenant)
         WHERE status = 'queued' AND dispatched_at IS NULL AND concurrency_key IS NULL AND rate_key IS NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX jobs_backlog_order`);
  }
}
