// SPEC §5 for other systems on RabbitMQ (issue 5): jobs published on the intake exchange or queue
// by clients Switchyard did not write, replies, rejected messages, and lifecycle CloudEvents.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import {
  connect,
  type Channel,
  type ChannelModel,
  type ConfirmChannel,
  type ConsumeMessage,
  type Options,
} from 'amqplib';
import { AMQPClient } from '@cloudamqp/amqp-client';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { Client } from 'pg';
import { parse as parseYaml } from 'yaml';
import { amqpNames, JOB_EVENTS, type AmqpNames } from '@switchyard/contracts';
import { TestStack, TEST_SERVICES, waitFor, type TestApi } from '@switchyard/testing';

jest.setTimeout(240000);

/**
 * Publishes one message with a second, independent AMQP client (@cloudamqp/amqp-client, not
 * amqplib which Switchyard uses), setting only what a minimal foreign client sets: no message_id
 * and no correlation_id property. Persistent, with a publisher confirm. (The same with
 * amqp-publish from amqp-tools: intake-amqp.tools.ts, `npm run test:tools`.)
 */
async function foreignPublish(
  exchange: string,
  routingKey: string,
  body: string,
  properties: { contentType?: string; replyTo?: string; headers: Record<string, string> },
): Promise<void> {
  const connection = await new AMQPClient(TEST_SERVICES.amqp).connect();
  try {
    const channel = await connection.channel();
    await channel.confirmSelect();
    await channel.basicPublish(exchange, routingKey, body, { deliveryMode: 2, ...properties });
  } finally {
    await connection.close();
  }
}

interface Reply {
  jobId?: string;
  status?: string;
  error?: { code: string; message: string };
}

interface CloudEventBody {
  specversion: string;
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  correlationid: string;
  datacontenttype: string;
  data: Record<string, unknown> & { jobId: string; seq: number; status: string; progress: number };
}

/** Messages arriving on one queue, kept in order, with a way to wait for a count. */
class Inbox {
  readonly messages: ConsumeMessage[] = [];
  constructor(readonly queue: string) {}
  static async open(
    channel: Channel,
    queue: string,
    keep: (m: ConsumeMessage) => boolean = () => true,
  ): Promise<Inbox> {
    const inbox = new Inbox(queue);
    await channel.consume(queue, (m) => m && keep(m) && inbox.messages.push(m), { noAck: true });
    return inbox;
  }
  async waitFor(count: number, timeoutMs = 30000): Promise<ConsumeMessage[]> {
    return waitFor(() => this.messages.length >= count && this.messages.slice(0, count), {
      timeoutMs,
      what: `${count} messages on ${this.queue} (have ${this.messages.length})`,
    });
  }
  json<T>(m: ConsumeMessage): T {
    return JSON.parse(m.content.toString('utf8')) as T;
  }
}

describe('AMQP intake, replies, rejected messages and events (SPEC §5)', () => {
  let stack: TestStack;
  let names: AmqpNames;
  let connection: ChannelModel;
  let channel: ConfirmChannel;
  let db: Client;
  let key: string;
  let api: TestApi;

  beforeAll(async () => {
    stack = await TestStack.create({ INTAKE_PREFETCH: '32' });
    await stack.start(['gateway', 'worker', 'progress-tracker']);
    names = amqpNames(stack.id);
    key = (await stack.createApiKey('intake')).key;
    api = stack.api(key);
    connection = await connect(TEST_SERVICES.amqp);
    channel = await connection.createConfirmChannel();
    db = new Client({ connectionString: stack.db.url });
    await db.connect();
  });

  afterAll(async () => {
    await connection?.close().catch(() => undefined);
    await db?.end();
    await stack?.destroy();
  });

  /** A private reply / listening queue, deleted with the connection. */
  const privateQueue = async (): Promise<string> =>
    (await channel.assertQueue('', { exclusive: true })).queue;

  const publish = async (
    body: string | Buffer,
    options: Options.Publish,
    target: { exchange: string; routingKey: string } = {
      exchange: names.intakeExchange,
      routingKey: 'submit',
    },
  ): Promise<void> => {
    channel.publish(target.exchange, target.routingKey, Buffer.isBuffer(body) ? body : Buffer.from(body), {
      persistent: true,
      ...options,
    });
    await channel.waitForConfirms();
  };

  const jobIdsByMarker = async (marker: string): Promise<string[]> =>
    (await db.query<{ id: string }>(`SELECT id FROM jobs WHERE metadata->>'marker' = $1`, [marker])).rows.map(
      (r) => r.id,
    );

  const intakeStats = () => channel.checkQueue(names.intakeQueue);

  it('accepts a job published by a second, independent AMQP client to the intake exchange or straight to the queue, and runs it', async () => {
    const viaExchange = `foreign-${randomUUID()}`;
    const viaQueue = `foreign-${randomUUID()}`;
    // Different payloads: identical requests within DEDUP_WINDOW_MS would be one job (SPEC §4).
    const job = (marker: string, durationMs: number) =>
      JSON.stringify({ type: 'synthetic', payload: { durationMs, steps: 2 }, metadata: { marker } });
    await foreignPublish(names.intakeExchange, 'submit', job(viaExchange, 10), {
      contentType: 'application/json',
      headers: { 'x-api-key': key },
    });
    // The default exchange ('') routes by queue name; no content type this time.
    await foreignPublish('', names.intakeQueue, job(viaQueue, 11), { headers: { 'x-api-key': key } });
    for (const marker of [viaExchange, viaQueue]) {
      const [id] = await waitFor(
        async () => {
          const ids = await jobIdsByMarker(marker);
          return ids.length > 0 && ids;
        },
        { what: `the job marked ${marker}` },
      );
      expect(id).toBeDefined();
      const done = await api.waitForStatus(id ?? '', 'completed');
      expect(done.result).toMatchObject({ ok: true });
    }
  });

  it('replies to reply_to with the job id and the same correlation id (a foreign client, then amqplib)', async () => {
    const replies = await privateQueue();
    const inbox = await Inbox.open(channel, replies);

    // A client that does not set correlation_id can send the x-correlation-id header instead.
    const fromTools = `tools-${randomUUID()}`;
    await foreignPublish(
      names.intakeExchange,
      'submit',
      JSON.stringify({
        type: 'synthetic',
        payload: { durationMs: 5, steps: 1 },
        metadata: { marker: fromTools },
      }),
      {
        contentType: 'application/json',
        replyTo: replies,
        headers: { 'x-api-key': key, 'x-correlation-id': fromTools },
      },
    );
    const [toolsReply] = await inbox.waitFor(1);
    expect(toolsReply?.properties.correlationId).toBe(fromTools);
    const toolsBody = inbox.json<Reply>(toolsReply);
    expect(toolsBody).toEqual({ jobId: expect.any(String) as string, status: 'queued' });
    expect(await jobIdsByMarker(fromTools)).toEqual([toolsBody.jobId]);

    // A client that sets the AMQP properties (amqplib here, as a Python or Java client would).
    const correlationId = `corr-${randomUUID()}`;
    await publish(JSON.stringify({ type: 'synthetic', payload: { durationMs: 5, steps: 3 } }), {
      contentType: 'application/json',
      messageId: `msg-${randomUUID()}`,
      correlationId,
      replyTo: replies,
      headers: { 'x-api-key': key },
    });
    const [, reply] = await inbox.waitFor(2);
    expect(reply?.properties.correlationId).toBe(correlationId);
    const body = inbox.json<Reply>(reply);
    expect(body.status).toBe('queued');
    const job = await api.waitForStatus(body.jobId ?? '', 'completed');
    // The correlation id is kept on the job (and so on its events and log lines).
    expect(job.correlationId).toBe(correlationId);
    expect((await api.job(toolsBody.jobId ?? '')).correlationId).toBe(fromTools);

    // A rejected message with reply_to gets {error: {code, message}}, with the same correlation id.
    await publish('{"type":', { replyTo: replies, correlationId: 'bad-1', headers: { 'x-api-key': key } });
    const [, , error] = await inbox.waitFor(3);
    expect(error?.properties.correlationId).toBe('bad-1');
    expect(inbox.json<Reply>(error)).toEqual({
      error: { code: 'invalid_json', message: expect.any(String) as string },
    });
  });

  it('gives one job for the same message_id published twice', async () => {
    const replies = await Inbox.open(channel, await privateQueue());
    const messageId = `order-${randomUUID()}`;
    const body = JSON.stringify({
      type: 'synthetic',
      payload: { durationMs: 5, steps: 0 },
      metadata: { marker: messageId },
    });
    const properties = {
      contentType: 'application/json',
      messageId,
      replyTo: replies.queue,
      headers: { 'x-api-key': key },
    };
    await publish(body, properties);
    await publish(body, { ...properties, correlationId: 'second' });
    const [first, second] = await replies.waitFor(2);
    const ids = [first, second].map((m) => replies.json<Reply>(m).jobId);
    expect(ids[0]).toBeDefined();
    expect(ids[1]).toBe(ids[0]);
    expect(await jobIdsByMarker(messageId)).toEqual([ids[0]]);
    const row = await db.query<{ idempotency_key: string }>(
      `SELECT idempotency_key FROM jobs WHERE id = $1`,
      [ids[0]],
    );
    expect(row.rows[0]?.idempotency_key).toBe(messageId);
    // The same message id with a different body is the REST 422: rejected as idempotency_conflict.
    await publish(JSON.stringify({ type: 'synthetic', payload: { durationMs: 6 } }), properties);
    const [, , conflict] = await replies.waitFor(3);
    expect(replies.json<Reply>(conflict).error?.code).toBe('idempotency_conflict');
  });

  it('refuses a webhookUrl on an origin the tenant registered no endpoint for, as REST does', async () => {
    const replies = await Inbox.open(channel, await privateQueue());
    const marker = `hook-${randomUUID()}`;
    await publish(
      JSON.stringify({
        type: 'synthetic',
        payload: { durationMs: 0 },
        metadata: { marker },
        webhookUrl: 'https://hooks.unregistered.test/jobs/1',
      }),
      { contentType: 'application/json', replyTo: replies.queue, headers: { 'x-api-key': key } },
    );
    const [reply] = await replies.waitFor(1);
    expect(replies.json<Reply>(reply).error).toMatchObject({
      code: 'validation_failed',
      message: expect.stringContaining('webhookUrl') as string,
    });
    expect(await jobIdsByMarker(marker)).toEqual([]);
  });

  it('applies the dedup window and the result cache as REST does', async () => {
    const replies = await Inbox.open(channel, await privateQueue());
    const send = async (payload: Record<string, unknown>, properties: Options.Publish = {}) => {
      const before = replies.messages.length;
      await publish(JSON.stringify({ type: 'synthetic', payload }), {
        contentType: 'application/json',
        replyTo: replies.queue,
        headers: { 'x-api-key': key },
        ...properties,
      });
      const all = await replies.waitFor(before + 1);
      return replies.json<Reply>(all[before]);
    };
    // No message_id: an identical request within DEDUP_WINDOW_MS is the same job.
    const first = await send({ durationMs: 3, steps: 7 });
    const again = await send({ durationMs: 3, steps: 7 });
    expect(again.jobId).toBe(first.jobId);
    // A cacheable request whose job completed is answered with that job, whatever the message id.
    const cacheable = { durationMs: 1, steps: 0, cacheable: true };
    const original = await send(cacheable, { messageId: `cache-${randomUUID()}` });
    await api.waitForStatus(original.jobId ?? '', 'completed');
    const hit = await send(cacheable, { messageId: `cache-${randomUUID()}` });
    expect(hit).toEqual({ jobId: original.jobId, status: 'completed' });
  });

  it('sends a valid CloudEvent for each completed job to a queue bound to job.completed, with seq increasing per job', async () => {
    const completedQueue = await privateQueue();
    await channel.bindQueue(completedQueue, names.eventsExchange, 'job.completed');
    const allQueue = await privateQueue();
    await channel.bindQueue(allQueue, names.eventsExchange, 'job.#');
    const completed = await Inbox.open(channel, completedQueue);
    const all = await Inbox.open(channel, allQueue);

    const replies = await Inbox.open(channel, await privateQueue());
    const count = 25;
    for (let i = 0; i < count; i++) {
      await publish(JSON.stringify({ type: 'synthetic', payload: { durationMs: 20, steps: 3 } }), {
        contentType: 'application/json',
        messageId: `events-${randomUUID()}`,
        correlationId: `events-corr-${i}`,
        replyTo: replies.queue,
        headers: { 'x-api-key': key },
      });
    }
    const jobIds = (await replies.waitFor(count)).map((m) => replies.json<Reply>(m).jobId ?? '');
    await completed.waitFor(count, 60000);
    // Give a duplicate (which must not exist) a moment to show up.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(completed.messages).toHaveLength(count);

    const byJob = new Map<string, CloudEventBody>();
    for (const message of completed.messages) {
      const { properties } = message;
      expect(properties.contentType).toBe('application/cloudevents+json');
      expect(properties.deliveryMode).toBe(2);
      const event = completed.json<CloudEventBody>(message);
      expectCloudEvent(event, 'completed');
      expect(properties.messageId).toBe(event.id);
      expect(properties.correlationId).toBe(event.correlationid);
      expect(properties.type).toBe('switchyard.job.completed');
      expect(typeof properties.timestamp).toBe('number');
      expect(Math.abs(Number(properties.timestamp) * 1000 - Date.parse(event.time))).toBeLessThan(5000);
      expect(event.data).toMatchObject({
        status: 'completed',
        progress: 100,
        tenant: 'intake',
        queue: 'default',
      });
      byJob.set(event.subject, event);
    }
    expect([...byJob.keys()].sort()).toEqual([...jobIds].sort());

    // Every event of a job (job.#): seq strictly increases in lifecycle order, completed last.
    await waitFor(() => all.messages.length >= count * 6, {
      timeoutMs: 30000,
      what: 'every lifecycle event',
    });
    for (const [jobId, done] of byJob) {
      const events = all.messages
        .map((m) => all.json<CloudEventBody>(m))
        .filter((e) => e.subject === jobId)
        .sort((a, b) => a.data.seq - b.data.seq);
      for (const e of events) expectCloudEvent(e, e.type.slice('switchyard.job.'.length));
      const seqs = events.map((e) => e.data.seq);
      expect(new Set(seqs).size).toBe(seqs.length);
      expect(events.map((e) => e.type)).toEqual([
        'switchyard.job.queued',
        'switchyard.job.started',
        'switchyard.job.progress',
        'switchyard.job.progress',
        'switchyard.job.progress',
        'switchyard.job.completed',
      ]);
      expect(events.at(-1)?.data.seq).toBe(done.data.seq);
      const progress = events.map((e) => e.data.progress);
      expect([...progress].sort((a, b) => a - b)).toEqual(progress);
      expect(new Set(events.map((e) => e.correlationid)).size).toBe(1);
      expect(events[0]?.source).toBe('switchyard/gateway');
      expect(done.source).toBe('switchyard/worker');
    }
  });

  it('turns 1,000 messages, one in ten malformed in ten different ways, into 900 completed jobs and 100 rejected messages with the right codes, the consumer staying up', async () => {
    const tenantKey = (await stack.createApiKey('intake-bulk')).key;
    const readOnlyKey = (await stack.createApiKey('intake-bulk', ['jobs:read'])).key;
    // Earlier tests left rejected messages of their own; this test counts its own.
    const rejected = await Inbox.open(channel, names.intakeRejectedQueue, (m) =>
      String(m.properties.messageId).startsWith('bulk-'),
    );
    const gateway = stack.service('gateway').url;

    // Watch the consumer while the messages flow: ready and consuming, all the time.
    const problems: string[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const [ready, stats] = await Promise.all([fetch(`${gateway}/health/ready`), intakeStats()]);
        if (ready.status !== 200) problems.push(`health/ready answered ${ready.status}`);
        if (stats.consumerCount !== 1) problems.push(`intake queue had ${stats.consumerCount} consumers`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();

    type Malformed = { code: string; body: string | Buffer; options?: Options.Publish; keyless?: boolean };
    const valid = (i: number) =>
      JSON.stringify({ type: 'synthetic', payload: { durationMs: 0, steps: 1 }, metadata: { n: i } });
    const kinds: ((i: number) => Malformed)[] = [
      () => ({ code: 'invalid_json', body: '{"type": "synthetic", "payload": {' }),
      (i) => ({ code: 'unsupported_content_type', body: valid(i), options: { contentType: 'text/plain' } }),
      () => ({
        code: 'validation_failed',
        body: JSON.stringify({ type: 'synthetic', payload: { durationMs: -5 } }),
      }),
      () => ({
        code: 'validation_failed',
        body: JSON.stringify({ type: 'synthetic', payload: {}, colour: 'red' }),
      }),
      () => ({ code: 'unknown_job_type', body: JSON.stringify({ type: 'no.such.type', payload: {} }) }),
      (i) => ({ code: 'unauthorized', body: valid(i), keyless: true }),
      (i) => ({
        code: 'unauthorized',
        body: valid(i),
        options: { headers: { 'x-api-key': 'sy_not_a_key' } },
      }),
      (i) => ({ code: 'forbidden', body: valid(i), options: { headers: { 'x-api-key': readOnlyKey } } }),
      () => ({
        code: 'payload_too_large',
        body: JSON.stringify({
          type: 'synthetic',
          payload: { durationMs: 0 },
          metadata: { pad: 'x'.repeat(1_100_000) },
        }),
      }),
      // The message id of a valid message accepted earlier, with another body: REST's 422.
      (i) => ({
        code: 'idempotency_conflict',
        body: JSON.stringify({ type: 'synthetic', payload: { durationMs: 1, steps: 0 } }),
        options: { messageId: `bulk-${i - 5}` },
      }),
    ];
    const malformedAt = (i: number) =>
      i % 10 === 9 ? kinds[Math.floor(i / 10) % kinds.length]?.(i) : undefined;
    const send = (i: number) => {
      const malformed = malformedAt(i);
      // Half straight to the queue through the default exchange, half through the intake exchange.
      const target =
        i % 2 === 0
          ? { exchange: names.intakeExchange, routingKey: 'submit' }
          : { exchange: '', routingKey: names.intakeQueue };
      channel.publish(target.exchange, target.routingKey, Buffer.from(malformed?.body ?? valid(i)), {
        persistent: true,
        contentType: 'application/json',
        messageId: `bulk-${i}`,
        correlationId: `bulk-corr-${i}`,
        ...malformed?.options,
        headers: {
          'x-trace': `t-${i}`,
          ...(malformed?.keyless ? {} : { 'x-api-key': tenantKey }),
          ...(malformed?.options?.headers as Record<string, unknown> | undefined),
        },
      });
    };
    const expectedCodes: Record<string, number> = {};
    for (let i = 0; i < 1000; i++) {
      const code = malformedAt(i)?.code;
      if (code) expectedCodes[code] = (expectedCodes[code] ?? 0) + 1;
    }
    // The idempotency conflicts go last, once the jobs whose message ids they repeat exist: handled
    // at the same time, either message could take the key first.
    const conflicts = new Set(
      Array.from({ length: 1000 }, (_, i) => i).filter(
        (i) => malformedAt(i)?.code === 'idempotency_conflict',
      ),
    );
    for (let i = 0; i < 1000; i++) if (!conflicts.has(i)) send(i);
    await channel.waitForConfirms();
    const keys = [...conflicts].map((i) => `bulk-${i - 5}`);
    await waitFor(
      async () =>
        (
          await db.query(`SELECT 1 FROM jobs WHERE tenant = 'intake-bulk' AND idempotency_key = ANY($1)`, [
            keys,
          ])
        ).rowCount === keys.length,
      { timeoutMs: 60000, intervalMs: 200, what: 'the jobs whose message ids the conflicts repeat' },
    );
    for (const i of conflicts) send(i);
    await channel.waitForConfirms();

    const completedCount = async () =>
      Number(
        (
          await db.query<{ n: string }>(
            `SELECT count(*) AS n FROM jobs WHERE tenant = 'intake-bulk' AND status = 'completed'`,
          )
        ).rows[0]?.n,
      );
    await waitFor(async () => (await completedCount()) >= 900, {
      timeoutMs: 180000,
      intervalMs: 500,
      what: '900 completed jobs',
    });
    await rejected.waitFor(100, 60000);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    watching = false;
    await watcher;

    expect(await completedCount()).toBe(900);
    const all = await db.query<{ n: string }>(`SELECT count(*) AS n FROM jobs WHERE tenant = 'intake-bulk'`);
    expect(Number(all.rows[0]?.n)).toBe(900);
    expect(rejected.messages).toHaveLength(100);
    expect(expectedCodes).toEqual({
      invalid_json: 10,
      unsupported_content_type: 10,
      validation_failed: 20,
      unknown_job_type: 10,
      unauthorized: 20,
      forbidden: 10,
      payload_too_large: 10,
      idempotency_conflict: 10,
    });
    const codes: Record<string, number> = {};
    for (const message of rejected.messages) {
      const headers = message.properties.headers ?? {};
      const code = String(headers['x-rejection-code']);
      codes[code] = (codes[code] ?? 0) + 1;
      expect(String(headers['x-rejection-reason'] ?? '')).not.toBe('');
      // The API key is never copied; the other headers and the properties are.
      expect(Object.keys(headers).map((h) => h.toLowerCase())).not.toContain('x-api-key');
      expect(String(headers['x-trace'])).toMatch(/^t-\d+$/);
      const n = Number(String(headers['x-trace']).slice('t-'.length));
      expect(n % 10).toBe(9);
      // The original message id (a conflict repeats the id of message n - 5).
      expect(message.properties.messageId).toBe(
        code === 'idempotency_conflict' ? `bulk-${n - 5}` : `bulk-${n}`,
      );
      expect(message.properties.correlationId).toBe(`bulk-corr-${n}`);
      expect(message.properties.deliveryMode).toBe(2);
      // The original body, byte for byte.
      const kind = kinds[Math.floor(n / 10) % kinds.length]?.(n);
      expect(message.content.equals(Buffer.from(kind?.body ?? ''))).toBe(true);
      expect(code).toBe(kind?.code);
    }
    expect(codes).toEqual(expectedCodes);
    expect(problems).toEqual([]);
    const stats = await intakeStats();
    expect([stats.messageCount, stats.consumerCount]).toEqual([0, 1]);
    // Nothing was dead-lettered for a handler error.
    expect(
      stack
        .service('gateway')
        .logs()
        .filter((l) => l['msg'] === 'AMQP message handler threw'),
    ).toEqual([]);
  });
});

/** docs/asyncapi.yaml's JobCloudEvent schema: what the document promises is what arrives. */
const documentedCloudEvent = (() => {
  const doc = parseYaml(readFileSync(join(__dirname, '..', 'docs', 'asyncapi.yaml'), 'utf8')) as {
    components: Record<string, unknown>;
  };
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ $id: 'asyncapi.json', components: doc.components });
  const validate = ajv.getSchema('asyncapi.json#/components/schemas/JobCloudEvent');
  if (!validate) throw new Error('docs/asyncapi.yaml has no JobCloudEvent schema');
  return (event: unknown) => (validate(event) ? 'valid' : ajv.errorsText(validate.errors));
})();

/** The SPEC §5 CloudEvent shape (docs/asyncapi.yaml's schema is checked against the code in intake-asyncapi.e2e.ts). */
function expectCloudEvent(event: CloudEventBody, name: string): void {
  expect(JOB_EVENTS).toContain(name);
  expect(event).toMatchObject({
    specversion: '1.0',
    id: expect.stringMatching(/^[0-9a-f-]{36}$/) as string,
    source: expect.stringMatching(/^switchyard\/(gateway|worker|progress-tracker)$/) as string,
    type: `switchyard.job.${name}`,
    subject: event.data.jobId,
    correlationid: expect.any(String) as string,
    datacontenttype: 'application/json',
  });
  expect(new Date(event.time).toISOString()).toBe(event.time);
  expect(documentedCloudEvent(event)).toBe('valid');
  for (const field of [
    'jobId',
    'tenant',
    'type',
    'queue',
    'status',
    'step',
    'progress',
    'message',
    'attempt',
    'seq',
  ]) {
    expect(Object.keys(event.data)).toContain(field);
  }
  expect(Number.isInteger(event.data.seq) && event.data.seq > 0).toBe(true);
}
