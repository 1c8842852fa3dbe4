import { randomUUID } from 'node:crypto';
import { Socket } from 'node:net';
import {
  createJobEvent,
  JOB_CANCEL,
  JOB_DISPATCH,
  JOB_EVENT_BATCH_LINGER_MS,
  type JobDispatch,
  type JobEventData,
} from '@switchyard/contracts';
import { Ack, DeadLetter, Requeue } from './ack-policy';
import { AmqpClient, MessagingError } from './amqp-client';
import type { InboundMessage } from './inbound-message';
import { AMQP_URL, deleteTestTopology, Inbox, memoryLogger, testPrefix, waitFor } from './test-support';

jest.setTimeout(30_000);

const prefix = testPrefix();
const log = memoryLogger();
const extraQueues: string[] = [];
let client: AmqpClient;

function newClient(overrides: Partial<ConstructorParameters<typeof AmqpClient>[0]> = {}): AmqpClient {
  return new AmqpClient({
    url: AMQP_URL,
    prefix,
    connectionName: `${prefix}-client-${randomUUID().slice(0, 4)}`,
    logger: log.logger,
    workQueues: ['extra'],
    ...overrides,
  });
}

function dispatch(queue = 'default'): JobDispatch {
  return { jobId: randomUUID(), tenant: 't1', type: 'synthetic', queue };
}

/** The data of a new job's `completed` event with this seq. */
function completedData(seq: number): JobEventData {
  return {
    jobId: randomUUID(),
    tenant: 't1',
    type: 'synthetic',
    queue: 'default',
    status: 'completed',
    step: null,
    progress: 100,
    message: null,
    attempt: 1,
    seq,
  };
}

/** A fresh queue of this test's prefix, deleted in afterAll. */
function queueName(label: string): string {
  const name = `${prefix}.test.${label}.${randomUUID().slice(0, 6)}`;
  extraQueues.push(name);
  return name;
}

beforeAll(async () => {
  client = newClient();
  await client.connect();
});

afterAll(async () => {
  await client.close();
  await deleteTestTopology(prefix, { workQueues: ['extra'], queues: extraQueues });
});

describe('AmqpClient connection', () => {
  it('connects once and declares topology idempotently from several clients', async () => {
    expect(client.isConnected()).toBe(true);
    const second = newClient();
    await second.connect();
    await second.connect();
    expect(second.isConnected()).toBe(true);
    await second.close();
    expect(second.isConnected()).toBe(false);
    await expect(client.queueStats(client.names.workQueue('extra'))).resolves.toEqual({
      messageCount: 0,
      consumerCount: 0,
    });
  });

  it('rejects connect() when the broker is unreachable within the connect timeout', async () => {
    const unreachable = newClient({
      url: 'amqp://guest:secret@127.0.0.1:1',
      connectTimeoutMs: 800,
      reconnectMinMs: 50,
    });
    const started = Date.now();
    const failure = unreachable.connect();
    await expect(failure).rejects.toBeInstanceOf(MessagingError);
    await expect(failure).rejects.toThrow(
      /could not connect to RabbitMQ at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1/,
    );
    expect(Date.now() - started).toBeLessThan(3000);
    expect(unreachable.isConnected()).toBe(false);
    await expect(unreachable.publishRaw('x', 'y', {})).rejects.toMatchObject({ code: 'not_connected' });
  });

  it('refuses to publish before connect()', async () => {
    await expect(newClient().publishRaw(client.names.jobsExchange, 'default', {})).rejects.toMatchObject({
      code: 'not_connected',
    });
  });
});

describe('AmqpClient publish and consume', () => {
  it('round-trips a job with confirms, persistent delivery and the SPEC properties', async () => {
    const job = dispatch('extra');
    const inbox = new Inbox<InboundMessage>();
    const handle = await client.consumeRaw(
      client.names.workQueue('extra'),
      (message) => {
        inbox.push(message);
        return Promise.resolve(Ack);
      },
      { prefetch: 4 },
    );
    const before = Math.floor(Date.now() / 1000);
    await client.publish(JOB_DISPATCH, job, { priority: 7, correlationId: 'corr-1', messageId: 'msg-1' });
    const [received] = await inbox.waitForCount(1);
    await handle.cancel();

    expect(received.content).toEqual(job);
    expect(received.body.toString()).toBe(JSON.stringify(job));
    expect(received.redelivered).toBe(false);
    expect(received.fields.routingKey).toBe('extra');
    expect(received.properties).toMatchObject({
      messageId: 'msg-1',
      correlationId: 'corr-1',
      type: 'switchyard.job.dispatch',
      contentType: 'application/json',
      deliveryMode: 2,
      priority: 7,
    });
    expect(received.properties.timestamp).toBeGreaterThanOrEqual(before);
    expect(received.properties.timestamp).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
    await waitFor(
      async () => (await client.queueStats(client.names.workQueue('extra'))).messageCount === 0,
      'the acked message to leave the queue',
    );
  });

  it('generates a message id when none is given and sends Buffers as they are', async () => {
    const queue = queueName('raw');
    await client.assertQueue(queue, { durable: false, autoDelete: false });
    const inbox = new Inbox<InboundMessage>();
    const handle = await client.consumeRaw(queue, (m) => (inbox.push(m), Promise.resolve(Ack)), {
      prefetch: 2,
    });
    await client.publishRaw('', queue, Buffer.from('not json'), {
      contentType: 'text/plain',
      headers: { 'x-a': 'b' },
    });
    await client.publishRaw('', queue, { n: 1 });
    const [raw, json] = await inbox.waitForCount(2);
    await handle.cancel();
    expect(raw.body.toString()).toBe('not json');
    expect(raw.content).toBeUndefined();
    expect(raw.properties.contentType).toBe('text/plain');
    expect(raw.headers).toMatchObject({ 'x-a': 'b' });
    expect(raw.properties.messageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(json.properties.messageId).not.toBe(raw.properties.messageId);
    expect(json.content).toEqual({ n: 1 });
  });

  it('publishes CloudEvents on the events exchange with routing key job.<event>', async () => {
    const queue = queueName('events');
    await client.assertQueue(queue, {
      bindings: [{ exchange: client.names.eventsExchange, pattern: 'job.#' }],
    });
    const inbox = new Inbox<InboundMessage>();
    const handle = await client.consumeRaw(queue, (m) => (inbox.push(m), Promise.resolve(Ack)), {
      prefetch: 10,
    });
    const event = createJobEvent('worker', 'completed', completedData(3), 'corr-ev');
    await client.publish(event.type, event);
    const [received] = await inbox.waitForCount(1);
    await handle.cancel();
    expect(received.fields.routingKey).toBe('job.completed');
    expect(received.content).toEqual(event);
    expect(received.properties).toMatchObject({
      contentType: 'application/cloudevents+json',
      correlationId: 'corr-ev',
      messageId: event.id,
      type: 'switchyard.job.completed',
      deliveryMode: 2,
    });
  });

  it('gathers the events of one turn into one batch message for the tracker and the metrics service', async () => {
    const queue = queueName('external');
    await client.assertQueue(queue, {
      bindings: [{ exchange: client.names.eventsExchange, pattern: 'job.#' }],
    });
    const external = new Inbox<InboundMessage>();
    const batches = new Inbox<InboundMessage>();
    const handles = [
      await client.consumeRaw(queue, (m) => (external.push(m), Promise.resolve(Ack)), { prefetch: 10 }),
      await client.consumeRaw(client.names.trackerQueue, (m) => (batches.push(m), Promise.resolve(Ack)), {
        prefetch: 10,
      }),
    ];
    const events = [1, 2, 3].map((seq) =>
      createJobEvent('worker', 'completed', completedData(seq), 'corr-b'),
    );
    // One turn: three publishes, each settled once its event and its batch are confirmed.
    await Promise.all(events.map((event) => client.publish(event.type, event)));
    const later = createJobEvent('worker', 'completed', completedData(4), 'corr-b');
    await client.publish(later.type, later);

    // Other systems get each event alone, in order…
    const singles = await external.waitForCount(4);
    expect(singles.map((m) => m.content)).toEqual([...events, later]);
    // …Switchyard's own consumers one batched-mode message per turn.
    const ours = (m: InboundMessage) =>
      (m.content as { correlationid: string }[])[0]?.correlationid === 'corr-b';
    await waitFor(() => batches.items.filter(ours).length >= 2, 'two batch messages');
    for (const handle of handles) await handle.cancel();
    const received = batches.items.filter(ours);
    expect(received.map((m) => m.content)).toEqual([events, [later]]);
    expect(received[0].fields).toMatchObject({ exchange: client.names.internalExchange });
    expect(received[0].properties).toMatchObject({
      contentType: 'application/cloudevents-batch+json',
      type: 'switchyard.job.event-batch',
      deliveryMode: 2,
    });
    // The metrics queue holds the same batches (nothing consumes it here).
    const metrics = await client.queueStats(client.names.metricsQueue);
    expect(metrics.messageCount).toBe(batches.items.length);
  });

  it('while a producer keeps publishing, the turns of one linger share a batch message', async () => {
    const batches = new Inbox<InboundMessage>();
    const handle = await client.consumeRaw(
      client.names.trackerQueue,
      (m) => (batches.push(m), Promise.resolve(Ack)),
      { prefetch: 10 },
    );
    const events = [1, 2, 3, 4].map((seq) =>
      createJobEvent('worker', 'completed', completedData(seq), 'corr-linger'),
    );
    // Quiet for longer than the linger: the first event goes out when its turn ends…
    await new Promise((resolve) => setTimeout(resolve, JOB_EVENT_BATCH_LINGER_MS + 5));
    const published = [client.publish(events[0].type, events[0])];
    // …and the events of the next turns, within the linger, wait for one message together.
    for (const event of events.slice(1)) {
      await new Promise((resolve) => setImmediate(resolve));
      published.push(client.publish(event.type, event));
    }
    await Promise.all(published);
    const ours = (m: InboundMessage) =>
      (m.content as { correlationid: string }[])[0]?.correlationid === 'corr-linger';
    await waitFor(() => batches.items.filter(ours).length >= 2, 'two batch messages');
    await handle.cancel();
    expect(batches.items.filter(ours).map((m) => m.content)).toEqual([[events[0]], events.slice(1)]);
  });

  describe('a publish the broker nacks', () => {
    /** A queue that holds one message and nacks the next publish (overflow reject-publish). */
    async function fullQueue(label: string, pattern: string): Promise<string> {
      const queue = queueName(label);
      await client.assertQueue(queue, {
        arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' },
        bindings: [{ exchange: client.names.eventsExchange, pattern }],
      });
      return queue;
    }

    const completedEvent = (seq: number) =>
      createJobEvent('worker', 'completed', completedData(seq), `corr-nack-${seq}`);

    it('is published again until a queue that could not take it has room (a quorum leader elected, say)', async () => {
      const queue = await fullQueue('nack-retry', 'job.completed');
      const first = completedEvent(1);
      const second = completedEvent(2);
      await client.publish(first.type, first);
      const retried = client.publish(second.type, second);
      // The broker refused it at least once…
      await waitFor(
        () => log.lines().some((l) => l['msg'] === 'AMQP publish nacked; publishing again'),
        'a nacked publish',
      );
      // …and once the queue has room again, the same publish is confirmed.
      const inbox = new Inbox<InboundMessage>();
      const handle = await client.consumeRaw(queue, (m) => (inbox.push(m), Promise.resolve(Ack)), {
        prefetch: 10,
      });
      await expect(retried).resolves.toBeUndefined();
      const received = await inbox.waitForCount(2);
      await handle.cancel();
      expect(received.map((m) => (m.content as { id: string }).id)).toEqual([first.id, second.id]);
    });

    it('rejects with code nacked once the wait for the broker is over', async () => {
      await fullQueue('nack-deadline', 'job.cancelled');
      const impatient = newClient({ disconnectedWaitMs: 600 });
      await impatient.connect();
      try {
        const event = createJobEvent('worker', 'cancelled', completedData(1), 'corr-nack');
        await impatient.publish(event.type, event);
        const started = Date.now();
        const refused = impatient.publish(event.type, event);
        await expect(refused).rejects.toMatchObject({ code: 'nacked' });
        expect(Date.now() - started).toBeGreaterThanOrEqual(500);
      } finally {
        await impatient.close();
      }
    });
  });

  it('broadcasts cancel commands to every queue bound to the control exchange', async () => {
    const inboxes = [new Inbox<InboundMessage>(), new Inbox<InboundMessage>()];
    const handles = [];
    for (const inbox of inboxes) {
      const queue = queueName('control');
      await client.assertQueue(queue, {
        durable: false,
        exclusive: true,
        bindings: [{ exchange: client.names.controlExchange, pattern: '' }],
      });
      handles.push(
        await client.consumeRaw(queue, (m) => (inbox.push(m), Promise.resolve(Ack)), { prefetch: 10 }),
      );
    }
    await client.publish(JOB_CANCEL, { jobId: 'j-1', tenant: 't1' }, { correlationId: 'corr-c' });
    for (const inbox of inboxes) {
      const [received] = await inbox.waitForCount(1);
      expect(received.content).toEqual({ jobId: 'j-1', tenant: 't1' });
      expect(received.properties).toMatchObject({ type: 'switchyard.job.cancel', correlationId: 'corr-c' });
    }
    for (const handle of handles) await handle.cancel();
  });

  it('starts higher priorities first, FIFO within a priority', async () => {
    const queue = client.names.workQueue('analysis');
    const priorities = [0, 5, 9, 2, 7, 5, 9, 0, 3, 7, 1, 8, 5, 2, 9, 4, 6, 5, 0, 7];
    for (const [seq, priority] of priorities.entries()) {
      await client.publish(
        JOB_DISPATCH,
        { ...dispatch('analysis'), jobId: String(seq) },
        { priority, correlationId: `c${seq}` },
      );
    }
    const inbox = new Inbox<{ priority: number; seq: number }>();
    const handle = await client.consumeRaw(
      queue,
      (message) => {
        inbox.push({
          priority: message.properties.priority as number,
          seq: Number((message.content as JobDispatch).jobId),
        });
        return Promise.resolve(Ack);
      },
      { prefetch: 1 },
    );
    const received = await inbox.waitForCount(priorities.length);
    await handle.cancel();
    const expected = priorities
      .map((priority, seq) => ({ priority, seq }))
      .sort((a, b) => b.priority - a.priority || a.seq - b.seq);
    expect(received).toEqual(expected);
  });

  it('moves a DeadLetter outcome to the DLQ', async () => {
    const job = dispatch('generation');
    const handle = await client.consumeRaw(
      client.names.workQueue('generation'),
      () => Promise.resolve(DeadLetter('invalid_payload')),
      { prefetch: 1 },
    );
    await client.publish(JOB_DISPATCH, job, { priority: 5, correlationId: 'corr-dl' });
    const dlq = new Inbox<InboundMessage>();
    const dlqHandle = await client.consumeRaw(
      client.names.deadLetterQueue,
      (m) => (dlq.push(m), Promise.resolve(Ack)),
      {
        prefetch: 1,
      },
    );
    const [dead] = await dlq.waitForCount(1);
    await handle.cancel();
    await dlqHandle.cancel();
    expect(dead.content).toEqual(job);
    expect(dead.properties.correlationId).toBe('corr-dl');
    const death = (dead.headers['x-death'] as { reason: string; queue: string }[])[0];
    expect(death).toMatchObject({ reason: 'rejected', queue: client.names.workQueue('generation') });
    expect(
      log.lines().some((l) => l.msg === 'AMQP message dead-lettered' && l.reason === 'invalid_payload'),
    ).toBe(true);
  });

  it('requeues on a first handler error and dead-letters when the redelivery fails too', async () => {
    const queue = queueName('poison');
    await client.assertQueue(queue, {
      arguments: { 'x-dead-letter-exchange': client.names.deadLetterExchange },
    });
    const deliveries = new Inbox<boolean>();
    const handle = await client.consumeRaw(
      queue,
      (message) => {
        deliveries.push(message.redelivered);
        return Promise.reject(new Error('boom'));
      },
      { prefetch: 1 },
    );
    const dlq = new Inbox<InboundMessage>();
    const dlqHandle = await client.consumeRaw(
      client.names.deadLetterQueue,
      (m) => (dlq.push(m), Promise.resolve(Ack)),
      {
        prefetch: 1,
      },
    );
    await client.publishRaw('', queue, { poison: true }, { messageId: 'poison-1' });
    const [dead] = await dlq.waitForCount(1);
    await handle.cancel();
    await dlqHandle.cancel();
    expect(deliveries.items).toEqual([false, true]);
    expect(dead.properties.messageId).toBe('poison-1');
    const errors = log
      .lines()
      .filter((l) => l.msg === 'AMQP message handler threw' && l.messageId === 'poison-1');
    expect(errors.map((l) => l.outcome)).toEqual(['requeue', 'dead-letter']);
    // Logs carry ids, never bodies.
    expect(JSON.stringify(log.lines())).not.toContain('poison":true');
  });

  it('redelivers a Requeue outcome', async () => {
    const queue = queueName('requeue');
    await client.assertQueue(queue, {});
    const deliveries = new Inbox<boolean>();
    const handle = await client.consumeRaw(
      queue,
      (message) => {
        deliveries.push(message.redelivered);
        return Promise.resolve(message.redelivered ? Ack : Requeue);
      },
      { prefetch: 1 },
    );
    await client.publishRaw('', queue, { n: 1 });
    expect(await deliveries.waitForCount(2)).toEqual([false, true]);
    await handle.cancel();
    await waitFor(async () => (await client.queueStats(queue)).messageCount === 0, 'the queue to be empty');
  });

  it('returns a retried job to its work queue through the 1000 ms delay tier', async () => {
    const job = dispatch('extra');
    const inbox = new Inbox<{ message: InboundMessage; at: number }>();
    const handle = await client.consumeRaw(
      client.names.workQueue('extra'),
      (message) => (inbox.push({ message, at: Date.now() }), Promise.resolve(Ack)),
      { prefetch: 1 },
    );
    const sentAt = Date.now();
    await expect(
      client.publish(JOB_DISPATCH, job, { priority: 5, correlationId: 'corr-r', delayMs: 1300 }),
    ).resolves.toBeUndefined();
    await waitFor(
      async () =>
        (await client.queueStats(client.names.retryQueue(1000))).messageCount === 1 || inbox.items.length > 0,
      'the message to wait in the retry queue',
    );
    expect(inbox.items).toHaveLength(0);
    const [{ message, at }] = await inbox.waitForCount(1, 5000);
    await handle.cancel();
    expect(at - sentAt).toBeGreaterThanOrEqual(900);
    expect(message.content).toEqual(job);
    expect(message.properties).toMatchObject({ correlationId: 'corr-r', priority: 5 });
    const death = (message.headers['x-death'] as { reason: string; queue: string }[])[0];
    expect(death).toMatchObject({ reason: 'expired', queue: client.names.retryQueue(1000) });
  });

  it('rejects a job for a queue nobody declared instead of losing it', async () => {
    await expect(
      client.publish(JOB_DISPATCH, dispatch('no-such-queue'), { priority: 5, correlationId: 'c' }),
    ).rejects.toMatchObject({ code: 'unroutable' });
  });

  it('rejects a publish to a missing exchange and keeps publishing afterwards', async () => {
    await expect(client.publishRaw(`${prefix}.missing`, 'k', {})).rejects.toThrow(/NOT_FOUND|no exchange/);
    const queue = queueName('after404');
    await client.assertQueue(queue, {});
    await client.publishRaw('', queue, { ok: true });
    expect(await client.queueStats(queue)).toEqual({ messageCount: 1, consumerCount: 0 });
  });

  it('rejects queueStats and consume on a missing queue without breaking the client', async () => {
    await expect(client.queueStats(`${prefix}.missing`)).rejects.toThrow(/NOT_FOUND|404/);
    await expect(
      client.consumeRaw(`${prefix}.missing`, () => Promise.resolve(Ack), { prefetch: 1 }),
    ).rejects.toThrow(/NOT_FOUND|404/);
    expect(client.isConnected()).toBe(true);
    await client.publish(JOB_DISPATCH, dispatch('extra'), { priority: 1, correlationId: 'c' });
    const drain = await client.consumeRaw(client.names.workQueue('extra'), () => Promise.resolve(Ack), {
      prefetch: 1,
    });
    await waitFor(
      async () => (await client.queueStats(client.names.workQueue('extra'))).messageCount === 0,
      'drain',
    );
    await drain.cancel();
  });

  it('stops new deliveries on cancel while an in-flight message can still be acked', async () => {
    const queue = queueName('cancel');
    await client.assertQueue(queue, {});
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const seen = new Inbox<string>();
    const handle = await client.consumeRaw(
      queue,
      async (message) => {
        seen.push(message.properties.messageId as string);
        await released;
        return Ack;
      },
      { prefetch: 1 },
    );
    await client.publishRaw('', queue, {}, { messageId: 'first' });
    await seen.waitForCount(1);
    await handle.cancel();
    await client.publishRaw('', queue, {}, { messageId: 'second' });
    release();
    await waitFor(async () => {
      const stats = await client.queueStats(queue);
      return stats.messageCount === 1 && stats.consumerCount === 0 && stats;
    }, 'the first message acked and the second left in the queue');
    expect(seen.items).toEqual(['first']);
  });

  it('applies prefetch per consumer', async () => {
    const queue = queueName('prefetch');
    await client.assertQueue(queue, {});
    for (let i = 0; i < 5; i++) await client.publishRaw('', queue, { i });
    const holding = new Inbox<number>();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const handle = await client.consumeRaw(
      queue,
      async (message) => {
        holding.push((message.content as { i: number }).i);
        await released;
        return Ack;
      },
      { prefetch: 2 },
    );
    await holding.waitForCount(2);
    // Unacked messages are not "ready": three ready means the broker held back all but two.
    await waitFor(
      async () => (await client.queueStats(queue)).messageCount === 3,
      'three messages still ready',
    );
    expect(holding.items).toHaveLength(2);
    release();
    await holding.waitForCount(5);
    await handle.cancel();
  });

  it('waits for drain when the channel buffer is full, and confirms every message', async () => {
    const queue = queueName('burst');
    await client.assertQueue(queue, { durable: false });
    const body = { pad: 'x'.repeat(2000) };
    await Promise.all(Array.from({ length: 3000 }, () => client.publishRaw('', queue, body)));
    expect(log.lines().some((l) => l.msg === 'AMQP publish buffer full, waiting for drain')).toBe(true);
    expect((await client.queueStats(queue)).messageCount).toBe(3000);
  });

  it("coalesces a tick's frames into a few socket writes instead of one per frame", async () => {
    const queue = queueName('coalesced');
    await client.assertQueue(queue, { durable: false });
    const socket = Socket.prototype as unknown as Record<'_write' | '_writev', (...args: unknown[]) => void>;
    const write = jest.spyOn(socket, '_write');
    const writev = jest.spyOn(socket, '_writev');
    const toBroker = (contexts: unknown[]): number =>
      contexts.filter((s) => s instanceof Socket && s.remotePort === 5672).length;
    try {
      await Promise.all(Array.from({ length: 200 }, (_, i) => client.publishRaw('', queue, { i })));
      const writes = toBroker(write.mock.contexts);
      const writevs = toBroker(writev.mock.contexts);
      // 200 publish frames (each ~300 bytes); a corked pass stops at the socket's high-water mark.
      expect(writevs).toBeGreaterThan(0);
      expect(writes + writevs).toBeLessThan(40);
    } finally {
      write.mockRestore();
      writev.mockRestore();
    }
    expect((await client.queueStats(queue)).messageCount).toBe(200);
  });

  it('waits for outstanding confirms on close', async () => {
    const closing = newClient();
    await closing.connect();
    const queue = queueName('close');
    await closing.assertQueue(queue, {});
    const publishes = Array.from({ length: 200 }, (_, i) => closing.publishRaw('', queue, { i }));
    await closing.close();
    const results = await Promise.allSettled(publishes);
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect((await client.queueStats(queue)).messageCount).toBe(200);
    await expect(closing.publishRaw('', queue, {})).rejects.toMatchObject({ code: 'closed' });
  });
});
