import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { JOB_CANCEL, JOB_DISPATCH } from '@switchyard/contracts';
import { Ack } from './ack-policy';
import { AmqpClient, type AmqpClientOptions } from './amqp-client';
import type { InboundMessage } from './inbound-message';
import { BrokerRelay, deleteTestTopology, Inbox, memoryLogger, testPrefix, waitFor } from './test-support';

jest.setTimeout(30_000);

const run = promisify(execFile);

const prefix = testPrefix();
const log = memoryLogger();
const extraQueues: string[] = [];
const clients: AmqpClient[] = [];
const relay = new BrokerRelay();

/** A client connected through the relay, so the test can cut its connection. */
function newClient(connectionName: string, overrides: Partial<AmqpClientOptions> = {}): AmqpClient {
  const client = new AmqpClient({
    url: relay.url,
    prefix,
    connectionName,
    logger: log.logger,
    reconnectMinMs: 50,
    reconnectMaxMs: 500,
    ...overrides,
  });
  clients.push(client);
  return client;
}

/** Closes a connection from the broker's side, as `rabbitmqctl close_all_connections` does. */
async function brokerClosesConnection(connectionName: string): Promise<void> {
  const { stdout } = await run('rabbitmqctl', [
    'list_connections',
    '-q',
    '--no-table-headers',
    'pid',
    'client_properties',
  ]);
  const line = stdout.split('\n').find((l) => l.includes(connectionName));
  if (!line) throw new Error(`no broker connection named ${connectionName} in:\n${stdout}`);
  const pid = line.split('\t')[0];
  await run('rabbitmqctl', ['close_connection', pid, 'test: forced close']);
}

function events(client: AmqpClient): string[] {
  const seen: string[] = [];
  client.on('connected', () => seen.push('connected'));
  client.on('disconnected', () => seen.push('disconnected'));
  return seen;
}

beforeAll(async () => {
  await relay.start();
});

afterAll(async () => {
  for (const client of clients) await client.close();
  await relay.stop();
  await deleteTestTopology(prefix, { queues: extraQueues });
});

describe('AmqpClient reconnection', () => {
  it('re-subscribes consumers and re-declares exclusive queues after the connection drops', async () => {
    const client = newClient(`${prefix}-socket`);
    const seen = events(client);
    await client.connect();
    const controlQueue = `${prefix}.control.${randomUUID().slice(0, 6)}`;
    extraQueues.push(controlQueue);
    await client.assertQueue(controlQueue, {
      durable: false,
      exclusive: true,
      bindings: [{ exchange: client.names.controlExchange, pattern: '' }],
    });
    const work = new Inbox<InboundMessage>();
    const control = new Inbox<InboundMessage>();
    await client.consumeRaw(client.names.workQueue('default'), (m) => (work.push(m), Promise.resolve(Ack)), {
      prefetch: 2,
    });
    await client.consumeRaw(controlQueue, (m) => (control.push(m), Promise.resolve(Ack)), { prefetch: 2 });

    await client.publish(
      JOB_DISPATCH,
      { jobId: 'before', tenant: 't', type: 'synthetic', queue: 'default' },
      { priority: 5, correlationId: 'c' },
    );
    await work.waitForCount(1);

    relay.cut();
    await waitFor(() => seen.includes('disconnected'), 'the disconnected event');
    // Published while disconnected: waits for the reconnection rather than failing.
    await client.publish(
      JOB_DISPATCH,
      { jobId: 'after', tenant: 't', type: 'synthetic', queue: 'default' },
      { priority: 5, correlationId: 'c' },
    );
    await client.publish(JOB_CANCEL, { jobId: 'after', tenant: 't' }, { correlationId: 'c' });

    const jobId = (m: InboundMessage): string => (m.content as { jobId: string }).jobId;
    await waitFor(() => work.items.some((m) => jobId(m) === 'after'), 'the job published after the cut');
    // An ack still in flight when the connection died is lost, so 'before' may come back once,
    // flagged as redelivered: at-least-once, never lost.
    const firstSeen = work.items.filter((m) => !m.redelivered).map(jobId);
    expect(firstSeen).toEqual(['before', 'after']);
    expect(work.items.filter((m) => m.redelivered).map(jobId)).toEqual(
      work.items.length === 3 ? ['before'] : [],
    );
    expect((await control.waitForCount(1))[0].content).toEqual({ jobId: 'after', tenant: 't' });
    expect(client.isConnected()).toBe(true);
    expect(seen).toEqual(['connected', 'disconnected', 'connected']);
    expect(await client.queueStats(client.names.workQueue('default'))).toEqual({
      messageCount: 0,
      consumerCount: 1,
    });
    expect(log.lines().some((l) => l.msg === 'AMQP reconnected')).toBe(true);
  });

  it('keeps publishing while an exclusive queue is still locked by the old connection, and re-declares it later', async () => {
    const client = newClient(`${prefix}-locked`);
    const seen = events(client);
    await client.connect();
    const controlQueue = `${prefix}.control.${randomUUID().slice(0, 6)}`;
    extraQueues.push(controlQueue);
    await client.assertQueue(controlQueue, {
      durable: false,
      exclusive: true,
      bindings: [{ exchange: client.names.controlExchange, pattern: '' }],
    });
    const control = new Inbox<InboundMessage>();
    await client.consumeRaw(controlQueue, (m) => (control.push(m), Promise.resolve(Ack)), { prefetch: 1 });

    relay.cutClientSide();
    await waitFor(() => seen.filter((e) => e === 'connected').length === 2, 'the reconnection');
    await waitFor(
      () =>
        log.lines().some((l) => l.msg === 'AMQP queue could not be re-declared' && l.queue === controlQueue),
      'the locked exclusive queue to be reported',
    );
    const eventQueue = `${prefix}.events.${randomUUID().slice(0, 6)}`;
    extraQueues.push(eventQueue);
    await client.assertQueue(eventQueue, {
      bindings: [{ exchange: client.names.eventsExchange, pattern: 'job.#' }],
    });
    await client.publishRaw(client.names.eventsExchange, 'job.queued', { n: 1 });
    expect(await client.queueStats(eventQueue)).toMatchObject({ messageCount: 1 });

    relay.releaseHeld();
    await waitFor(async () => {
      try {
        return (await client.queueStats(controlQueue)).consumerCount === 1;
      } catch {
        return false;
      }
    }, 'the exclusive queue re-declared and its consumer back');
    await client.publish(JOB_CANCEL, { jobId: 'j', tenant: 't' }, { correlationId: 'c' });
    expect((await control.waitForCount(1))[0].content).toEqual({ jobId: 'j', tenant: 't' });
  });

  it('survives the broker closing the connection, with the configured connection name', async () => {
    const name = `${prefix}-forced`;
    const client = newClient(name);
    const seen = events(client);
    await client.connect();
    const work = new Inbox<InboundMessage>();
    await client.consumeRaw(client.names.workQueue('analysis'), (m) => (work.push(m), Promise.resolve(Ack)), {
      prefetch: 1,
    });

    await brokerClosesConnection(name);
    await waitFor(() => seen.includes('disconnected'), 'the disconnected event');
    await waitFor(() => seen.filter((e) => e === 'connected').length === 2, 'the reconnection');

    await client.publish(
      JOB_DISPATCH,
      { jobId: 'j', tenant: 't', type: 'synthetic', queue: 'analysis' },
      { priority: 1, correlationId: 'c' },
    );
    expect((await work.waitForCount(1))[0].content).toMatchObject({ jobId: 'j' });
    // The connection name survives the reconnection too: the broker can find it again.
    await brokerClosesConnection(name);
    await waitFor(() => seen.filter((e) => e === 'connected').length === 3, 'the second reconnection');
  });

  it('keeps retrying while the broker is unreachable; a publish waits up to its limit, then rejects', async () => {
    const client = newClient(`${prefix}-down`, { disconnectedWaitMs: 600 });
    const seen = events(client);
    await client.connect();
    await relay.stop();
    await waitFor(() => seen.includes('disconnected'), 'the disconnected event');

    const started = Date.now();
    await expect(client.publishRaw(client.names.eventsExchange, 'job.queued', {})).rejects.toMatchObject({
      code: 'not_connected',
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    await waitFor(
      () =>
        log.lines().filter((l) => l.msg === 'AMQP reconnect failed' && l.connectionName === `${prefix}-down`)
          .length >= 2,
      'repeated reconnection attempts',
    );

    await relay.start();
    await waitFor(() => client.isConnected(), 'the reconnection once the broker is back');
    await expect(client.publishRaw(client.names.eventsExchange, 'job.queued', {})).resolves.toBeUndefined();
    expect(seen).toEqual(['connected', 'disconnected', 'connected']);
  });

  it('settles an in-flight message that outlives its connection without crashing, and the broker redelivers it', async () => {
    const client = newClient(`${prefix}-inflight`);
    await client.connect();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const deliveries = new Inbox<boolean>();
    await client.consumeRaw(
      client.names.workQueue('generation'),
      async (message) => {
        deliveries.push(message.redelivered);
        if (!message.redelivered) await released;
        return Ack;
      },
      { prefetch: 1 },
    );
    await client.publish(
      JOB_DISPATCH,
      { jobId: 'slow', tenant: 't', type: 'synthetic', queue: 'generation' },
      { priority: 5, correlationId: 'c' },
    );
    await deliveries.waitForCount(1);
    relay.cut();
    expect(await deliveries.waitForCount(2)).toEqual([false, true]);
    release();
    await waitFor(
      () => log.lines().some((l) => l.msg === 'AMQP message could not be settled'),
      'the stale ack to be logged',
    );
    await waitFor(
      async () => (await client.queueStats(client.names.workQueue('generation'))).messageCount === 0,
      'the redelivered message to be acked',
    );
  });

  it('publishes again on the next connection what its lost connection never confirmed: every publish resolves, none is missing', async () => {
    const client = newClient(`${prefix}-unconfirmed`);
    await client.connect();
    const queue = `${prefix}.unconfirmed`;
    extraQueues.push(queue);
    await client.assertQueue(queue, { durable: true });
    const count = 500;
    const published = Array.from({ length: count }, (_, i) =>
      client.publishRaw('', queue, { i }, { messageId: `m-${i}` }),
    );
    // Some frames are on the wire, few or none confirmed, when the connection dies.
    await new Promise((resolve) => setImmediate(resolve));
    relay.cut();
    const outcomes = await Promise.allSettled(published);
    expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([]);
    expect(log.lines().some((l) => l.msg === 'AMQP connection lost before a confirm; publishing again')).toBe(
      true,
    );
    // At least once: every message is in the queue, some possibly twice.
    const received = new Set<string>();
    await client.consumeRaw(
      queue,
      (m) => (received.add(String(m.properties.messageId)), Promise.resolve(Ack)),
      { prefetch: 100 },
    );
    await waitFor(() => received.size === count, `all ${count} messages in the queue`);
  });

  it('stays down after close(): no reconnection', async () => {
    const client = newClient(`${prefix}-closed`);
    const seen = events(client);
    await client.connect();
    await client.close();
    await expect(client.publishRaw(client.names.eventsExchange, 'job.queued', {})).rejects.toMatchObject({
      code: 'closed',
    });
    expect(client.isConnected()).toBe(false);
    expect(seen).toEqual(['connected', 'disconnected']);
  });
});
