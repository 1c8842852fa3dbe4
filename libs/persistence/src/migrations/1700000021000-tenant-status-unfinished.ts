import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An index entry a job's last version no longer writes. Every status change of a job is a non-HOT
 * update (status is indexed), so each version adds an entry to every index whose predicate it
 * meets: about 17 per job in `jobs` over its four versions, plus its history and outbox rows'. On
 * the main path those insertions were ~20 % of PostgreSQL's CPU (docs/performance.md).
 *
 * `jobs_tenant_status` leaves out `completed` jobs: the per-tenant counts it serves (active and
 *   scheduled jobs, TENANT_MAX_ACTIVE_JOBS; their statement says `status <> 'completed'` so that even
 *   a generic plan may use the index) never count them, and a list filtered by `completed`
 *   reads `jobs_tenant_created` (most of a tenant's jobs are completed). A job's last version no
 *   longer adds an entry, and the index no longer grows with the completed history the table keeps
 *   until retention.
 */
export class TenantStatusUnfinished1700000021000 implements MigrationInterface {
  name = 'TenantStatusUnfinished1700000021000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX jobs_tenant_status`);
    await q.query(`CREATE INDEX jobs_tenant_status ON jobs (tenant, status) WHERE status <> 'completed'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX jobs_tenant_status`);
    await q.query(`CREATE INDEX jobs_tenant_status ON jobs (tenant, status)`);
  }
}
