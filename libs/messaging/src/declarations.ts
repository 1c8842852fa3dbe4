import type { AmqpNames } from '@switchyard/contracts';
import type { Channel } from 'amqplib';
import type { Logger } from 'pino';
import type { AmqpConnection, Session } from './connection';
import { errorMessage } from './errors';
import { declareTopology, type QueueType } from './topology';

export interface AssertQueueOptions {
  durable?: boolean;
  exclusive?: boolean;
  autoDelete?: boolean;
  arguments?: Record<string, unknown>;
  bindings?: { exchange: string; pattern: string }[];
}

export interface QueueStats {
  messageCount: number;
  consumerCount: number;
}

export interface DeclarationsOptions {
  names: AmqpNames;
  workQueues: string[];
  deadLetterMaxLength: number;
  queueType: QueueType;
  logger: Logger;
}

/** What each connection declares: the topology, and the queues asserted through the client. */
export class Declarations {
  private readonly queues = new Map<string, AssertQueueOptions>();
  private readonly retryTimers = new Map<string, NodeJS.Timeout>();
  private readonly log: Logger;

  constructor(
    private readonly connection: AmqpConnection,
    private readonly options: DeclarationsOptions,
  ) {
    this.log = options.logger;
  }

  /**
   * Declares the topology; a dead-letter queue that already exists with other arguments (an
   * earlier version's unbounded queue, or another DLQ_MAX_LENGTH) is kept as it is, with a
   * warning, since RabbitMQ cannot change a queue's arguments (docs/operations.md, upgrade).
   */
  async declareTopology(session: Session): Promise<void> {
    const { names, workQueues, deadLetterMaxLength, queueType } = this.options;
    try {
      await withTemporaryChannel(session, (channel) =>
        declareTopology(channel, names, workQueues, { deadLetterMaxLength, queueType }),
      );
    } catch (err) {
      const message = errorMessage(err);
      if (/PRECONDITION_FAILED/.test(message) && /'x-queue-type'/.test(message)) {
        // Still a 406 (permanent: connect() gives up at once), with the way out in its message.
        throw Object.assign(
          new Error(
            `${message}: the queue exists with another type than AMQP_QUEUE_TYPE=${queueType}, which RabbitMQ cannot change in place; see docs/scaling.md, "Switching an existing deployment between queue types"`,
            { cause: err },
          ),
          { code: 406 },
        );
      }
      if (!/PRECONDITION_FAILED/.test(message) || !message.includes(`'${names.deadLetterQueue}'`)) throw err;
      this.log.warn(
        { err, queue: names.deadLetterQueue, deadLetterMaxLength },
        `${names.deadLetterQueue} exists with other arguments and keeps them; to cap it at DLQ_MAX_LENGTH, delete it once no service uses it (GET /dlq in PostgreSQL stays complete) or set a RabbitMQ policy (docs/operations.md)`,
      );
      await withTemporaryChannel(session, (channel) =>
        declareTopology(channel, names, workQueues, { keepExistingDeadLetterQueue: true, queueType }),
      );
    }
  }

  /** Declares a queue and its bindings now and again after every reconnection. */
  async assertQueue(name: string, options: AssertQueueOptions): Promise<void> {
    const session = await this.connection.waitForSession();
    await withTemporaryChannel(session, (channel) => assertQueueOn(channel, name, options));
    this.queues.set(name, options);
  }

  /**
   * Binds `queue` to `exchange` with the patterns of `bind` and removes its bindings with those of
   * `unbind` (both idempotent), on one channel; the broker keeps them (they are not re-declared
   * after a reconnection).
   */
  async setBindings(
    queue: string,
    exchange: string,
    bind: readonly string[],
    unbind: readonly string[],
  ): Promise<void> {
    const session = await this.connection.waitForSession();
    await withTemporaryChannel(session, async (channel) => {
      for (const pattern of bind) await channel.bindQueue(queue, exchange, pattern);
      for (const pattern of unbind) await channel.unbindQueue(queue, exchange, pattern);
    });
  }

  async queueStats(queue: string): Promise<QueueStats> {
    const session = await this.connection.waitForSession();
    // A 404 closes the channel it happens on, so it must not be a shared one.
    const reply = await withTemporaryChannel(session, (channel) => channel.checkQueue(queue));
    return { messageCount: reply.messageCount, consumerCount: reply.consumerCount };
  }

  /**
   * Re-declares the asserted queues on a new connection. A queue that cannot be re-declared yet
   * (typically an exclusive queue still held by the broker's half-dead old connection:
   * RESOURCE_LOCKED) is retried later and must not hold up publishing.
   */
  async restore(session: Session): Promise<void> {
    await Promise.all([...this.queues].map(([name, options]) => this.redeclare(session, name, options, 0)));
  }

  stop(): void {
    for (const timer of this.retryTimers.values()) clearTimeout(timer);
    this.retryTimers.clear();
  }

  private async redeclare(
    session: Session,
    name: string,
    options: AssertQueueOptions,
    attempt: number,
  ): Promise<void> {
    try {
      await withTemporaryChannel(session, (channel) => assertQueueOn(channel, name, options));
    } catch (err) {
      if (session.closed || this.connection.stopping || this.retryTimers.has(name)) return;
      this.log.warn({ err, queue: name, attempt: attempt + 1 }, 'AMQP queue could not be re-declared');
      const timer = setTimeout(() => {
        this.retryTimers.delete(name);
        if (this.connection.current() === session && this.queues.get(name) === options) {
          void this.redeclare(session, name, options, attempt + 1);
        }
      }, this.connection.retryDelay(attempt));
      this.retryTimers.set(name, timer);
    }
  }
}

async function assertQueueOn(channel: Channel, name: string, options: AssertQueueOptions): Promise<void> {
  await channel.assertQueue(name, {
    durable: options.durable ?? true,
    exclusive: options.exclusive ?? false,
    autoDelete: options.autoDelete ?? false,
    arguments: options.arguments,
  });
  for (const binding of options.bindings ?? [])
    await channel.bindQueue(name, binding.exchange, binding.pattern);
}

/** Runs `use` on a channel of its own: a broker error closes that channel, not a shared one. */
export async function withTemporaryChannel<T>(
  session: Session,
  use: (channel: Channel) => Promise<T>,
): Promise<T> {
  const channel = await session.model.createChannel();
  let closed = false;
  let channelError: Error | undefined;
  channel.on('error', (err: Error) => {
    channelError = err;
  });
  channel.on('close', () => {
    closed = true;
  });
  try {
    return await use(channel);
  } catch (err) {
    // amqplib rejects the pending call with a terse error; the channel's error says why.
    throw channelError ?? err;
  } finally {
    if (!closed) await channel.close().catch(() => undefined);
  }
}
