import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Outbox rows hold a catalogue message (`name`, `payload`) and the publish options the payload
 * does not carry; exchange, routing key and AMQP properties come from the catalogue when the row
 * is published. Rows written before keep their message: the name was their AMQP `type`.
 */
export class OutboxMessage1700000005000 implements MigrationInterface {
  name = 'OutboxMessage1700000005000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE outbox ADD COLUMN name text`);
    await q.query(`UPDATE outbox SET name = properties->>'type'`);
    await q.query(`DELETE FROM outbox WHERE name IS NULL`);
    await q.query(`ALTER TABLE outbox ALTER COLUMN name SET NOT NULL`);
    await q.query(`ALTER TABLE outbox RENAME COLUMN body TO payload`);
    await q.query(`ALTER TABLE outbox RENAME COLUMN properties TO options`);
    await q.query(`UPDATE outbox SET options = options - 'type' - 'contentType'`);
    await q.query(`ALTER TABLE outbox DROP COLUMN exchange, DROP COLUMN routing_key`);
  }

  async down(q: QueryRunner): Promise<void> {
    // Unpublished rows cannot be routed without the prefix they were written with: the relay of
    // the newer version must have emptied the outbox before a downgrade.
    await q.query(`DELETE FROM outbox`);
    await q.query(
      `ALTER TABLE outbox ADD COLUMN exchange text NOT NULL, ADD COLUMN routing_key text NOT NULL`,
    );
    await q.query(`ALTER TABLE outbox RENAME COLUMN options TO properties`);
    await q.query(`ALTER TABLE outbox RENAME COLUMN payload TO body`);
    await q.query(`ALTER TABLE outbox DROP COLUMN name`);
  }
}
