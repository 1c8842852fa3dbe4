import { randomUUID } from 'node:crypto';
import { connect, type Channel } from 'amqplib';
import { Ack, DeadLetter, Requeue, type ConsumeOutcome } from './ack-policy';
import { AmqpClient } from './amqp-client';
import { AMQP_URL, deleteTestTopology, Inbox, memoryLogger, testPrefix, waitFor } from './test-support';

jest.setTimeout(60_000);

const prefix = testPrefix();
const log = memoryLogger();
const extraQueues: string[] = [];
let client: AmqpClient;
/** Every channel.ack call of this process: [delivery tag, allUpTo, consumer tag]. */
let ackSpy: jest.SpyInstance<void, Parameters<Channel['ack']>>;

function newClient(): AmqpClient {
  return new AmqpClient({
    url: AMQP_URL,
    prefix,
    connectionName: `${prefix}-acks-${randomUUID().slice(0, 4)}`,
    logger: log.logger,
  });
}

function queueName(label: string): string {
  const name = `${prefix}.test.${label}.${randomUUID().slice(0, 6)}`;
  extraQueues.push(name);
  return name;
}

/** The acks sent for one consumer: `multiple` ones cover every open delivery up to their tag. */
function acksOf(consumerTag: string): { single: number; multiple: number } {
  const calls = ackSpy.mock.calls.filter(([message]) => message.fields.consumerTag === consumerTag);
  const multiple = calls.filter(([, allUpTo]) => allUpTo === true).length;
  return { single: calls.length - multiple, multiple };
}

beforeAll(async () => {
  // amqplib's channel class is not exported; take it from a channel of a plain connection.
  const model = await connect(AMQP_URL);
  const channel = await model.createChannel();
  ackSpy = jest.spyOn(Object.getPrototypeOf(channel) as Channel, 'ack');
  await model.close();
  client = newClient();
  await client.connect();
});

afterAll(async () => {
  ackSpy.mockRestore();
  await client.close();
  await deleteTestTopology(prefix, { queues: extraQueues });
});

describe('AmqpClient batched acks', () => {
  it('settles 1,000 messages finishing out of order exactly as their outcomes say, with few ack frames', async () => {
    const total = 1000;
    const queue = queueName('batched');
    await client.assertQueue(queue, {
      durable: false,
      arguments: { 'x-dead-letter-exchange': client.names.deadLetterExchange },
    });
    const outcomeOf = (i: number, redelivered: boolean): ConsumeOutcome => {
      if (i % 10 === 3) return redelivered ? Ack : Requeue;
      if (i % 10 === 7) return DeadLetter('test');
      return Ack;
    };
    const expectedDead = Array.from({ length: total }, (_, i) => i).filter((i) => i % 10 === 7);
    const expectedFinal = total + total / 10; // every message once, plus the requeued ones again

    // Handlers finish in groups of 20, released newest first within one tick; every 250th message
    // is held until three more groups are released, so later ones finish while it holds the oldest open tag.
    let group: (() => void)[] = [];
    let groupTimer: NodeJS.Timeout | undefined;
    let releases = 0;
    const slow: { until: number; resolve: () => void }[] = [];
    const releaseGroup = (): void => {
      clearTimeout(groupTimer);
      groupTimer = undefined;
      releases++;
      const due = [...group.reverse(), ...slow.filter((s) => s.until <= releases).map((s) => s.resolve)];
      group = [];
      slow.splice(0, slow.length, ...slow.filter((s) => s.until > releases));
      for (const resolve of due) resolve();
    };
    const waitForGroup = (): Promise<void> =>
      new Promise<void>((resolve) => {
        group.push(resolve);
        if (group.length >= 20) releaseGroup();
        // The tail (and a group short of the slow ones) does not wait for 20.
        else groupTimer ??= setTimeout(releaseGroup, 20);
      });
    const deliveries = new Map<number, boolean[]>();
    const settled = new Inbox<number>();
    const consumerTag = `${prefix}-batched`;
    const handle = await client.consumeRaw(
      queue,
      async (message) => {
        const i = (message.content as { i: number }).i;
        deliveries.set(i, [...(deliveries.get(i) ?? []), message.redelivered]);
        if (i % 250 === 5 && !message.redelivered) {
          await new Promise<void>((resolve) => slow.push({ until: releases + 3, resolve }));
        } else {
          await waitForGroup();
        }
        settled.push(i);
        return outcomeOf(i, message.redelivered);
      },
      { prefetch: 50, consumerTag },
    );
    await Promise.all(
      Array.from({ length: total }, (_, i) => client.publishRaw('', queue, { i }, { messageId: `m-${i}` })),
    );

    await settled.waitForCount(expectedFinal, 45_000);
    const dead = await waitFor(
      async () =>
        (await client.queueStats(client.names.deadLetterQueue)).messageCount === expectedDead.length,
      'the dead-lettered messages in the DLQ',
    );
    expect(dead).toBe(true);
    // Closing the channel would put back anything delivered but not acked.
    await handle.cancel();
    expect(await client.queueStats(queue)).toEqual({ messageCount: 0, consumerCount: 0 });
    expect(settled.items).toHaveLength(expectedFinal);

    for (let i = 0; i < total; i++) {
      expect([i, deliveries.get(i)]).toEqual([i, i % 10 === 3 ? [false, true] : [false]]);
    }
    const deadIds: number[] = [];
    const dlq = await client.consumeRaw(
      client.names.deadLetterQueue,
      (message) => (deadIds.push((message.content as { i: number }).i), Promise.resolve(Ack)),
      { prefetch: 100 },
    );
    await waitFor(() => deadIds.length === expectedDead.length, 'the DLQ to be read');
    await dlq.cancel();
    expect(deadIds.sort((a, b) => a - b)).toEqual(expectedDead);

    const acks = acksOf(consumerTag);
    // 900 acks owed (800 first deliveries, 100 redeliveries): about one multiple ack per group,
    // plus single acks for what finished while a slow message held the oldest tag (about 100 here).
    expect(acks.multiple).toBeGreaterThanOrEqual(20);
    expect(acks.single).toBeGreaterThan(0);
    expect(acks.single + acks.multiple).toBeLessThan(250);
    expect(log.lines().filter((l) => l.msg === 'AMQP acks could not be sent')).toEqual([]);
  });

  it('sends the acks of messages finished after cancel before the channel closes', async () => {
    const closing = newClient();
    await closing.connect();
    const queue = queueName('cancel');
    await closing.assertQueue(queue, {});
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const seen = new Inbox<string>();
    const done = new Inbox<string>();
    const consumerTag = `${prefix}-cancel`;
    const handle = await closing.consumeRaw(
      queue,
      async (message) => {
        seen.push(message.properties.messageId as string);
        await released;
        done.push(message.properties.messageId as string);
        return Ack;
      },
      { prefetch: 10, consumerTag },
    );
    for (let i = 0; i < 10; i++) await closing.publishRaw('', queue, { i }, { messageId: `c-${i}` });
    await seen.waitForCount(10);
    await handle.cancel();
    release();
    await done.waitForCount(10);
    // The last settle closes the channel in the same tick; close() then closes the connection.
    await closing.close();
    expect(await client.queueStats(queue)).toEqual({ messageCount: 0, consumerCount: 0 });
    expect(acksOf(consumerTag)).toEqual({ single: 0, multiple: 1 });
  });
});
