import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A job's own webhook URL (`webhookUrl` on submit), the origin of each webhook endpoint (the key a
 * job's URL is matched on), and a delivery's target when it is not its endpoint's URL. All three
 * are nullable columns without defaults: adding them rewrites no table.
 */
export class JobWebhookUrl1700000015000 implements MigrationInterface {
  name = 'JobWebhookUrl1700000015000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE jobs ADD COLUMN webhook_url text`);
    await q.query(`ALTER TABLE webhook_deliveries ADD COLUMN url text`);
    await q.query(`ALTER TABLE webhook_endpoints ADD COLUMN origin text`);
    // Origins as the WHATWG URL parser spells them (lower-case host, default port left out).
    const endpoints = (await q.query(`SELECT id, url FROM webhook_endpoints`)) as {
      id: string;
      url: string;
    }[];
    for (const endpoint of endpoints) {
      await q.query(`UPDATE webhook_endpoints SET origin = $2 WHERE id = $1`, [
        endpoint.id,
        new URL(endpoint.url).origin,
      ]);
    }
    await q.query(`ALTER TABLE webhook_endpoints ALTER COLUMN origin SET NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE webhook_endpoints DROP COLUMN origin`);
    await q.query(`ALTER TABLE webhook_deliveries DROP COLUMN url`);
    await q.query(`ALTER TABLE jobs DROP COLUMN webhook_url`);
  }
}
