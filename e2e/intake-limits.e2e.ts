// The AMQP intake under limits and faults: REST's quotas give rejected messages; a database outage
// requeues with a delay instead (nothing rejected, nothing lost); a SIGTERM stops consuming and
// leaves unhandled messages in the durable queue for the next gateway.
import { randomUUID } from 'node:crypto';
import { connect, type ChannelModel, type ConfirmChannel, type ConsumeMessage, type Options } from 'amqplib';
import { Client } from 'pg';
import { amqpNames, type AmqpNames } from '@switchyard/contracts';
import { TestStack, TEST_SERVICES, waitFor } from '@switchyard/testing';

jest.setTimeout(180000);

interface Reply {
  jobId?: string;
  status?: string;
  error?: { code: string; message: string };
}

/** One test client: a confirm channel, a private reply queue and what arrived on it. */
class IntakeClient {
  readonly replies: ConsumeMessage[] = [];
  private constructor(
    readonly names: AmqpNames,
    private readonly connection: ChannelModel,
    readonly channel: ConfirmChannel,
    readonly replyQueue: string,
  ) {}

  static async open(prefix: string): Promise<IntakeClient> {
    const connection = await connect(TEST_SERVICES.amqp);
    const channel = await connection.createConfirmChannel();
    const { queue } = await channel.assertQueue('', { exclusive: true });
    const client = new IntakeClient(amqpNames(prefix), connection, channel, queue);
    await channel.consume(queue, (m) => m && client.replies.push(m), { noAck: true });
    return client;
  }

  async publish(body: unknown, options: Options.Publish): Promise<void> {
    this.channel.publish(this.names.intakeExchange, 'submit', Buffer.from(JSON.stringify(body)), {
      persistent: true,
      contentType: 'application/json',
      replyTo: this.replyQueue,
      ...options,
    });
    await this.channel.waitForConfirms();
  }

  /** Publishes and waits for the reply with the same correlation id. */
  async submit(body: unknown, apiKey: string, options: Options.Publish = {}): Promise<Reply> {
    const correlationId = randomUUID();
    await this.publish(body, { correlationId, headers: { 'x-api-key': apiKey }, ...options });
    return this.reply(correlationId);
  }

  async reply(correlationId: string, timeoutMs = 20000): Promise<Reply> {
    const message = await waitFor(
      () => this.replies.find((m) => m.properties.correlationId === correlationId),
      {
        timeoutMs,
        what: `the reply to ${correlationId}`,
      },
    );
    return JSON.parse(message.content.toString('utf8')) as Reply;
  }

  async close(): Promise<void> {
    await this.connection.close().catch(() => undefined);
  }
}

const synthetic = (durationMs: number) => ({ type: 'synthetic', payload: { durationMs, steps: 0 } });

describe('intake quotas: the REST limits, as rejected messages', () => {
  let stack: TestStack;
  let client: IntakeClient;

  beforeAll(async () => {
    // No worker: jobs stay queued, so they count against the quotas.
    stack = await TestStack.create({ TENANT_MAX_ACTIVE_JOBS: '3', QUEUE_MAX_DEPTH: '5' });
    await stack.start(['gateway']);
    client = await IntakeClient.open(stack.id);
  });

  afterAll(async () => {
    await client?.close();
    await stack?.destroy();
  });

  it('rejects over the tenant quota (tenant_quota_exceeded) and over the queue depth (queue_full)', async () => {
    const rejected: ConsumeMessage[] = [];
    await client.channel.consume(client.names.intakeRejectedQueue, (m) => m && rejected.push(m), {
      noAck: true,
    });
    const a = (await stack.createApiKey('quota-a')).key;
    const b = (await stack.createApiKey('quota-b')).key;
    // One at a time: the quota is checked per message, as REST checks it per request.
    for (const ms of [1, 2, 3])
      expect(await client.submit(synthetic(ms), a)).toMatchObject({ status: 'queued' });
    const overQuota = await client.submit(synthetic(4), a);
    expect(overQuota.error?.code).toBe('tenant_quota_exceeded');

    for (const ms of [5, 6])
      expect(await client.submit(synthetic(ms), b)).toMatchObject({ status: 'queued' });
    const full = await client.submit(synthetic(7), b);
    expect(full.error?.code).toBe('queue_full');

    await waitFor(() => rejected.length >= 2, { what: 'two rejected messages' });
    expect(rejected.map((m) => m.properties.headers?.['x-rejection-code'] as unknown)).toEqual([
      'tenant_quota_exceeded',
      'queue_full',
    ]);
    expect(JSON.parse(rejected[1]?.content.toString() ?? '')).toEqual(synthetic(7));
  });
});

describe('intake faults: a database outage and SIGTERM', () => {
  let stack: TestStack;
  let client: IntakeClient;
  let admin: Client;

  beforeAll(async () => {
    stack = await TestStack.create({ INTAKE_RETRY_DELAY_MS: '200' });
    await stack.start(['gateway']);
    client = await IntakeClient.open(stack.id);
    admin = new Client({ connectionString: `${TEST_SERVICES.postgres}/postgres` });
    await admin.connect();
  });

  afterAll(async () => {
    await admin?.query(`ALTER DATABASE "${stack.db.name}" ALLOW_CONNECTIONS true`).catch(() => undefined);
    await admin?.end();
    await client?.close();
    await stack?.destroy();
  });

  const queueCounts = async () => {
    const [intake, rejected] = await Promise.all([
      client.channel.checkQueue(client.names.intakeQueue),
      client.channel.checkQueue(client.names.intakeRejectedQueue),
    ]);
    return { intake: intake.messageCount, rejected: rejected.messageCount };
  };

  it('requeues with a delay while the database is down, rejects nothing, and accepts the job once it is back', async () => {
    const key = (await stack.createApiKey('outage')).key;
    const gateway = stack.service('gateway');
    // Only this test's database goes away: other test runs share the PostgreSQL server.
    await admin.query(`ALTER DATABASE "${stack.db.name}" ALLOW_CONNECTIONS false`);
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [
      stack.db.name,
    ]);
    const withAdminKey = randomUUID();
    const withTenantKey = randomUUID();
    // The bootstrap admin key needs no database; a tenant key does (unless cached): both wait.
    await client.publish(synthetic(21), {
      correlationId: withAdminKey,
      messageId: `outage-${withAdminKey}`,
      headers: { 'x-api-key': stack.adminKey },
    });
    await client.publish(synthetic(22), {
      correlationId: withTenantKey,
      messageId: `outage-${withTenantKey}`,
      headers: { 'x-api-key': key },
    });
    const transient = () =>
      gateway
        .logs()
        .filter((l) => l['msg'] === 'intake message met a transient failure; it will be requeued');
    await waitFor(() => transient().length >= 4, { timeoutMs: 20000, what: 'several requeues' });
    // With a delay, not in a loop: two messages, retried every ≥ 180 ms, growing with the outage.
    const before = transient().length;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(transient().length - before).toBeLessThanOrEqual(12);
    expect(client.replies).toEqual([]);
    expect((await queueCounts()).rejected).toBe(0);

    await admin.query(`ALTER DATABASE "${stack.db.name}" ALLOW_CONNECTIONS true`);
    const [first, second] = await Promise.all([
      client.reply(withAdminKey, 60000),
      client.reply(withTenantKey, 60000),
    ]);
    expect(first).toMatchObject({ status: 'queued' });
    expect(second).toMatchObject({ status: 'queued' });
    expect(await queueCounts()).toEqual({ intake: 0, rejected: 0 });
    // The message ids made the retries idempotent: one job each.
    const db = new Client({ connectionString: stack.db.url });
    await db.connect();
    try {
      const rows = await db.query<{ tenant: string; correlation_id: string }>(
        `SELECT tenant, correlation_id FROM jobs WHERE correlation_id = ANY($1) ORDER BY tenant`,
        [[withAdminKey, withTenantKey]],
      );
      expect(rows.rows).toEqual([
        { tenant: 'default', correlation_id: withAdminKey },
        { tenant: 'outage', correlation_id: withTenantKey },
      ]);
    } finally {
      await db.end();
    }
    expect(gateway.logs().filter((l) => l['msg'] === 'AMQP message handler threw')).toEqual([]);
  });

  it('moves a poison message to the rejected queue without its API key (internal_error when handling fails twice), and keeps consuming', async () => {
    const gateway = stack.service('gateway');
    const rejected: ConsumeMessage[] = [];
    const tag = (
      await client.channel.consume(client.names.intakeRejectedQueue, (m) => m && rejected.push(m), {
        noAck: true,
      })
    ).consumerTag;
    try {
      // PostgreSQL's jsonb refuses the NUL character, which JSON allows: the insert fails the same
      // way on every attempt, with the database up — a failure that is neither the message's
      // (validation passed) nor transient.
      const poison = randomUUID();
      await client.publish(
        { type: 'synthetic', payload: { durationMs: 1 }, metadata: { note: 'nul \u0000 here' } },
        { correlationId: poison, messageId: `poison-${poison}`, headers: { 'x-api-key': stack.adminKey } },
      );
      const copy = await waitFor(() => rejected.find((m) => m.properties.correlationId === poison), {
        timeoutMs: 30000,
        what: 'the poison message in the rejected queue',
      });
      const headers = copy.properties.headers ?? {};
      // The key is never copied, not even for a message the gateway failed on.
      expect(Object.keys(headers).map((h) => h.toLowerCase())).not.toContain('x-api-key');
      if (headers['x-rejection-code'] === 'internal_error') {
        // Requeued once after the first failure, then moved by the gateway (not dead-lettered by
        // RabbitMQ, which would have kept every header).
        expect(headers['x-death']).toBeUndefined();
        expect(gateway.logs().filter((l) => l['msg'] === 'AMQP message handler threw')).toHaveLength(1);
        expect(
          gateway
            .logs()
            .filter((l) => l['msg'] === 'intake message failed twice; moving it to the rejected queue'),
        ).toHaveLength(1);
      } else {
        // Should the gateway learn to refuse such payloads up front, it is an ordinary rejection.
        expect(headers['x-rejection-code']).toBe('validation_failed');
      }
      // Never lost (it is in the rejected queue), and the consumer carries on.
      const next = await client.submit(synthetic(41), stack.adminKey);
      expect(next).toMatchObject({ status: 'queued' });
      expect((await client.channel.checkQueue(client.names.intakeQueue)).consumerCount).toBe(1);
    } finally {
      await client.channel.cancel(tag);
    }
  });

  it('stops consuming on SIGTERM, exits 0, and a new gateway takes the messages left in the queue', async () => {
    const gateway = stack.service('gateway');
    expect((await client.channel.checkQueue(client.names.intakeQueue)).consumerCount).toBe(1);
    expect(await gateway.stop('SIGTERM')).toBe(0);
    expect((await client.channel.checkQueue(client.names.intakeQueue)).consumerCount).toBe(0);
    const logs = gateway.logs().map((l) => String(l['msg']));
    expect(logs.indexOf('intake consumer stopped')).toBeGreaterThan(logs.indexOf('shutting down'));

    // Published while no gateway runs: durable, so waiting, not lost.
    const correlationId = randomUUID();
    await client.publish(synthetic(31), { correlationId, headers: { 'x-api-key': stack.adminKey } });
    expect((await queueCounts()).intake).toBe(1);
    const next = await stack.spawn('gateway');
    expect(await client.reply(correlationId)).toMatchObject({ status: 'queued' });
    expect((await client.channel.checkQueue(client.names.intakeQueue)).consumerCount).toBe(1);
    // Started after the HTTP server: the consumer log line follows "listening".
    const started = next.logs().map((l) => String(l['msg']));
    expect(started.indexOf('intake consumer started')).toBeGreaterThan(started.indexOf('gateway listening'));
  });
});
