import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Autovacuum settings for the two tables whose rows churn with every job: `jobs` (each job is
 * updated three or more times) and `outbox` (a row per event, deleted once published). Their
 * backlog and outbox indexes are read from the front, where the entries of the rows that left
 * them pile up until a vacuum removes them; PostgreSQL's defaults (20 % of the table) let a
 * backlog of 100,000 jobs collect 20,000 of those before a vacuum. Here: 2,000 rows plus 2 % (dead
 * rows, and inserted rows for the visibility map that index-only counts need), analyze after 5 %.
 * They apply where autovacuum runs; the gateways' table maintenance (VACUUM_DEAD_ROWS) covers a
 * server where it does not, or lags (docs/operations.md).
 */
export class HotTableVacuum1700000019000 implements MigrationInterface {
  name = 'HotTableVacuum1700000019000';

  async up(q: QueryRunner): Promise<void> {
    for (const table of ['jobs', 'outbox']) {
      await q.query(
        `ALTER TABLE ${table} SET (autovacuum_vacuum_threshold = 2000, autovacuum_vacuum_scale_factor = 0.02,
           autovacuum_vacuum_insert_threshold = 2000, autovacuum_vacuum_insert_scale_factor = 0.02,
           autovacuum_analyze_threshold = 2000, autovacuum_analyze_scale_factor = 0.05)`,
      );
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['jobs', 'outbox']) {
      await q.query(
        `ALTER TABLE ${table} RESET (autovacuum_vacuum_threshold, autovacuum_vacuum_scale_factor,
           autovacuum_vacuum_insert_threshold, autovacuum_vacuum_insert_scale_factor,
           autovacuum_analyze_threshold, autovacuum_analyze_scale_factor)`,
      );
    }
  }
}
