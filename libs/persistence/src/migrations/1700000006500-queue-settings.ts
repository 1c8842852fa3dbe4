import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Per-queue settings an operator changes at run time: `paused` (a paused queue keeps accepting
 * jobs, the dispatcher releases none of them). In PostgreSQL so that the state survives restarts
 * and every gateway reads the same one. A queue without a row is not paused.
 */
export class QueueSettings1700000006500 implements MigrationInterface {
  name = 'QueueSettings1700000006500';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE queue_settings (
        queue text PRIMARY KEY,
        paused boolean NOT NULL DEFAULT false,
        paused_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE queue_settings`);
  }
}
