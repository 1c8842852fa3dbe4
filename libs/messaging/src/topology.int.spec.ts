import { amqpNames, RETRY_DELAY_TIERS_MS } from '@switchyard/contracts';
import { connect, type ChannelModel } from 'amqplib';
import { AmqpClient } from './amqp-client';
import { declareTopology, workQueueArguments, workQueueNames } from './topology';
import { AMQP_URL, deleteTestTopology, memoryLogger, testPrefix } from './test-support';

describe('declareTopology against RabbitMQ', () => {
  const prefix = testPrefix();
  const names = amqpNames(prefix);
  let model: ChannelModel;

  beforeAll(async () => {
    model = await connect(AMQP_URL);
  });

  afterAll(async () => {
    await model.close();
    await deleteTestTopology(prefix, { workQueues: ['extra'] });
  });

  it('can be declared twice, from two channels, without PRECONDITION_FAILED', async () => {
    const first = await model.createChannel();
    await declareTopology(first, names, ['extra']);
    await declareTopology(first, names, ['extra']);
    await first.close();
    const second = await model.createChannel();
    await declareTopology(second, names, ['extra']);
    for (const queue of workQueueNames(['extra'])) {
      await expect(second.checkQueue(names.workQueue(queue))).resolves.toMatchObject({ messageCount: 0 });
    }
    for (const ms of RETRY_DELAY_TIERS_MS) await second.checkQueue(names.retryQueue(ms));
    for (const queue of [names.deadLetterQueue, names.intakeQueue, names.intakeRejectedQueue]) {
      await second.checkQueue(queue);
    }
    for (const exchange of [
      names.jobsExchange,
      names.retryExchange,
      names.deadLetterExchange,
      names.eventsExchange,
      names.controlExchange,
      names.intakeExchange,
    ]) {
      await second.checkExchange(exchange);
    }
    await second.close();
  });

  it('gives work queues x-max-priority 9: the broker refuses the same queue without it', async () => {
    const channel = await model.createChannel();
    const errors: Error[] = [];
    channel.on('error', (err: Error) => errors.push(err));
    await expect(
      channel.assertQueue(names.workQueue('default'), {
        durable: true,
        arguments: workQueueArguments(names),
      }),
    ).resolves.toBeDefined();
    await expect(
      channel.assertQueue(names.workQueue('default'), {
        durable: true,
        arguments: { ...workQueueArguments(names), 'x-max-priority': 5 },
      }),
    ).rejects.toThrow(/PRECONDITION_FAILED|406/);
    expect(errors[0]?.message).toMatch(/x-max-priority/);
  });

  it('makes connect() fail fast, naming the cause, when an existing queue has other arguments', async () => {
    const otherPrefix = testPrefix();
    const channel = await model.createChannel();
    await channel.assertQueue(amqpNames(otherPrefix).workQueue('default'), { durable: true });
    await channel.close();
    const client = new AmqpClient({
      url: AMQP_URL,
      prefix: otherPrefix,
      connectionName: `${otherPrefix}-mismatch`,
      logger: memoryLogger().logger,
    });
    try {
      const started = Date.now();
      await expect(client.connect()).rejects.toThrow(/PRECONDITION_FAILED - inequivalent arg/);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(client.isConnected()).toBe(false);
    } finally {
      await client.close();
      await deleteTestTopology(otherPrefix);
    }
  });

  it('caps the dead-letter queue at DLQ_MAX_LENGTH, dropping the oldest messages', async () => {
    const capped = testPrefix();
    const cappedNames = amqpNames(capped);
    const channel = await model.createConfirmChannel();
    try {
      await declareTopology(channel, cappedNames, [], { deadLetterMaxLength: 3 });
      for (let i = 1; i <= 8; i++)
        channel.publish(cappedNames.deadLetterExchange, '', Buffer.from(String(i)));
      await channel.waitForConfirms();
      expect((await channel.checkQueue(cappedNames.deadLetterQueue)).messageCount).toBe(3);
      const kept: string[] = [];
      for (let m = await channel.get(cappedNames.deadLetterQueue, { noAck: true }); m;) {
        kept.push(m.content.toString());
        m = await channel.get(cappedNames.deadLetterQueue, { noAck: true });
      }
      expect(kept).toEqual(['6', '7', '8']);
    } finally {
      await channel.close();
      await deleteTestTopology(capped);
    }
  });

  it("keeps an existing, uncapped dead-letter queue (an earlier version's) instead of failing to connect", async () => {
    const old = testPrefix();
    const oldNames = amqpNames(old);
    const channel = await model.createChannel();
    await channel.assertQueue(oldNames.deadLetterQueue, { durable: true });
    await channel.close();
    const { logger, lines } = memoryLogger();
    const client = new AmqpClient({
      url: AMQP_URL,
      prefix: old,
      connectionName: `${old}-upgrade`,
      logger,
      deadLetterMaxLength: 2,
    });
    try {
      await client.connect();
      expect(client.isConnected()).toBe(true);
      expect(
        lines().some((l) =>
          String(l['msg']).includes(`${oldNames.deadLetterQueue} exists with other arguments`),
        ),
      ).toBe(true);
      // Still bound to the dead-letter exchange, and still as it was (no cap).
      const confirm = await model.createConfirmChannel();
      for (let i = 0; i < 4; i++) confirm.publish(oldNames.deadLetterExchange, '', Buffer.from('x'));
      await confirm.waitForConfirms();
      expect((await confirm.checkQueue(oldNames.deadLetterQueue)).messageCount).toBe(4);
      await confirm.close();
    } finally {
      await client.close();
      await deleteTestTopology(old);
    }
  });
});
