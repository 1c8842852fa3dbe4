import { EventEmitter } from 'node:events';
import {
  amqpNames,
  messageDefinition,
  MESSAGES,
  type AmqpNames,
  type MessageDefinition,
  type MessageName,
  type MessageOf,
  type PayloadOf,
} from '@switchyard/contracts';
import {
  connect,
  type Channel,
  type ChannelModel,
  type ConfirmChannel,
  type ConsumeMessage,
  type Message,
  type Options,
} from 'amqplib';
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { AckBatcher } from './ack-batcher';
import { DeadLetter, outcomeForHandlerError, type ConsumeOutcome } from './ack-policy';
import { toInboundMessage, type InboundMessage } from './inbound-message';
import { encodeBody, toPublishProperties, type PublishOptions } from './publish-options';
import {
  DEFAULT_RECONNECT_MAX_MS,
  DEFAULT_RECONNECT_MIN_MS,
  reconnectDelay,
  redactUrl,
} from './reconnect-backoff';
import { declareTopology, retryDelayTier } from './topology';
import { coalesceWritesPerTick } from './write-coalescing';

export interface AmqpClientOptions {
  /** e.g. amqp://guest:guest@127.0.0.1:5672 */
  url: string;
  /** AMQP_PREFIX, e.g. 'switchyard'. */
  prefix: string;
  /** Shown in the RabbitMQ management UI (client property connection_name). */
  connectionName: string;
  logger: Logger;
  /** Work queues to declare besides BUILT_IN_QUEUES. */
  workQueues?: string[];
  /** DLQ_MAX_LENGTH: the dead-letter queue's cap when this client creates it (0 = unbounded). */
  deadLetterMaxLength?: number;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** How long connect() keeps trying before it rejects. Default 10 000. */
  connectTimeoutMs?: number;
  /** How long publish(), consume() and queueStats() wait for a reconnection. Default 10 000. */
  disconnectedWaitMs?: number;
}

export interface AssertQueueOptions {
  durable?: boolean;
  exclusive?: boolean;
  autoDelete?: boolean;
  arguments?: Record<string, unknown>;
  bindings?: { exchange: string; pattern: string }[];
}

export interface ConsumeOptions {
  prefetch: number;
  consumerTag?: string;
}

export type MessageHandler = (message: InboundMessage) => Promise<ConsumeOutcome>;

/** Options of a catalogue message's publish; exchange, routing key and type come from the catalogue. */
export interface MessagePublishOptions {
  priority?: number;
  correlationId?: string;
  messageId?: string;
  headers?: Record<string, unknown>;
  /**
   * Deliver no sooner than this: the message waits in the smallest retry tier ≥ delayMs, then
   * dead-letters back to the jobs exchange. Only for messages routed through the jobs exchange.
   */
  delayMs?: number;
}

/** The shape of a typed publish over catalogue `C`: the payload must be `name`'s. */
export type Publish<C> = <N extends keyof C & string>(
  name: N,
  payload: PayloadOf<C, N>,
  options?: MessagePublishOptions,
) => Promise<void>;

export type TypedMessageHandler<N extends MessageName> = (
  payload: MessageOf<N>,
  message: InboundMessage,
) => Promise<ConsumeOutcome>;

export interface TypedConsumeOptions extends ConsumeOptions {
  /** What a body that is none of the expected messages becomes; dead-lettered by default. */
  onInvalid?: (message: InboundMessage) => ConsumeOutcome;
}

export interface ConsumerHandle {
  /** Stops new deliveries; messages already delivered can still be settled. */
  cancel(): Promise<void>;
}

export interface QueueStats {
  messageCount: number;
  consumerCount: number;
}

export type MessagingErrorCode = 'not_connected' | 'closed' | 'nacked' | 'channel_closed' | 'unroutable';

export class MessagingError extends Error {
  constructor(
    readonly code: MessagingErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MessagingError';
  }
}

export type AmqpClientEvent = 'connected' | 'disconnected';

const DEFAULT_WAIT_MS = 10_000;

/** One live AMQP connection and what was opened on it. */
interface Session {
  readonly model: ChannelModel;
  closed: boolean;
  publisher?: Publisher;
  publisherOpening?: Promise<Publisher>;
}

interface Publisher {
  readonly channel: ConfirmChannel;
  closed: boolean;
  /** The channel's error, reported to the publishes whose confirms the channel's close fails. */
  lastError?: Error;
  /** Pending while the channel's write buffer is full. */
  backpressure?: Promise<void>;
  releaseBackpressure?: () => void;
  /** message ids of mandatory messages the broker returned, waiting for their confirm. */
  readonly returned: Map<string, number>;
}

interface Consumer {
  readonly queue: string;
  readonly handler: MessageHandler;
  readonly prefetch: number;
  readonly consumerTag?: string;
  cancelled: boolean;
  inFlight: number;
  subscription?: Subscription;
  subscribingOn?: Session;
  resubscribeTimer?: NodeJS.Timeout;
  resubscribeAttempt: number;
}

interface Subscription {
  readonly session: Session;
  readonly channel: Channel;
  tag?: string;
  closed: boolean;
  /** Closed by the broker (queue deleted, access refused, …), not with its connection. */
  failed: boolean;
  /** Acks go out once per tick, as one multiple ack where the oldest deliveries are all done. */
  readonly acks: AckBatcher;
}

interface SessionWaiter {
  resolve(session: Session): void;
  reject(error: Error): void;
}

/**
 * The AMQP client of every Switchyard service: one connection, one confirm channel for
 * publishing, one channel per consumer (so prefetch is per consumer), and reconnection with
 * backoff that re-declares topology and re-subscribes consumers.
 */
export class AmqpClient extends EventEmitter {
  readonly names: AmqpNames;

  private readonly log: Logger;
  private readonly workQueues: string[];
  private readonly reconnectMinMs: number;
  private readonly reconnectMaxMs: number;
  private readonly connectTimeoutMs: number;
  private readonly waitMs: number;

  private session?: Session;
  /** connect() was called and close() was not: reconnect when the connection is lost. */
  private started = false;
  private stopping = false;
  private connecting?: Promise<void>;
  private reconnecting?: Promise<void>;
  private reconnectAttempt = 0;
  private reconnectTimer?: NodeJS.Timeout;
  private wakeConnectLoop?: () => void;

  private readonly consumers = new Set<Consumer>();
  private readonly declaredQueues = new Map<string, AssertQueueOptions>();
  private readonly declaredQueueTimers = new Map<string, NodeJS.Timeout>();
  private readonly pendingPublishes = new Set<Promise<void>>();
  private readonly waiters = new Set<SessionWaiter>();

  constructor(private readonly options: AmqpClientOptions) {
    super();
    this.names = amqpNames(options.prefix);
    this.log = options.logger.child({ component: 'amqp', connectionName: options.connectionName });
    this.workQueues = options.workQueues ?? [];
    this.reconnectMinMs = options.reconnectMinMs ?? DEFAULT_RECONNECT_MIN_MS;
    this.reconnectMaxMs = options.reconnectMaxMs ?? DEFAULT_RECONNECT_MAX_MS;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_WAIT_MS;
    this.waitMs = options.disconnectedWaitMs ?? DEFAULT_WAIT_MS;
  }

  override on(event: AmqpClientEvent, listener: () => void): this {
    return super.on(event, listener);
  }

  override once(event: AmqpClientEvent, listener: () => void): this {
    return super.once(event, listener);
  }

  isConnected(): boolean {
    return this.session !== undefined && !this.session.closed;
  }

  /** Connects and declares the topology; retries with backoff for up to connectTimeoutMs. */
  async connect(): Promise<void> {
    if (this.isConnected()) return;
    if (this.connecting) return this.connecting;
    this.started = true;
    this.stopping = false;
    this.connecting = this.connectWithinDeadline().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /**
   * Publishes catalogue message `name`: exchange, routing key and AMQP properties come from its
   * definition, so the payload's type is checked against the name.
   */
  publish<N extends MessageName>(
    name: N,
    payload: MessageOf<N>,
    options: MessagePublishOptions = {},
  ): Promise<void> {
    const definition: MessageDefinition = messageDefinition(name);
    const properties = definition.properties(payload);
    let exchange = definition.exchange(this.names);
    let cc: string[] | undefined;
    if (options.delayMs !== undefined) {
      if (exchange !== this.names.jobsExchange) {
        return Promise.reject(new RangeError(`${name} is not routed through the jobs exchange: no delay`));
      }
      // The routing key routes nowhere on the retry exchange; the CC key picks the tier queue. On
      // expiry the message is dead-lettered to the jobs exchange with both keys, and the routing
      // key routes it home.
      exchange = this.names.retryExchange;
      cc = [String(retryDelayTier(options.delayMs))];
    }
    return this.publishRaw(exchange, definition.routingKey(payload), payload, {
      ...properties,
      priority: options.priority,
      correlationId: options.correlationId ?? properties.correlationId,
      messageId: options.messageId ?? properties.messageId,
      headers: options.headers,
      cc,
      mandatory: definition.mandatory,
    });
  }

  /** Publishes a body that is no catalogue message (replies, copies of rejected messages). */
  publishRaw(
    exchange: string,
    routingKey: string,
    body: unknown,
    options: PublishOptions = {},
  ): Promise<void> {
    const published = this.publishConfirmed(exchange, routingKey, body, options);
    // close() waits for every publish begun before it, not only those already written.
    this.pendingPublishes.add(published);
    const forget = (): void => {
      this.pendingPublishes.delete(published);
    };
    void published.then(forget, forget);
    return published;
  }

  private async publishConfirmed(
    exchange: string,
    routingKey: string,
    body: unknown,
    options: PublishOptions,
  ): Promise<void> {
    const content = encodeBody(body);
    const properties = toPublishProperties(options, Date.now());
    const deadline = Date.now() + this.waitMs;
    for (;;) {
      const session = await this.waitForSession(deadline);
      let publisher: Publisher;
      try {
        publisher = await this.publisherFor(session);
      } catch (err) {
        if (session.closed) continue;
        throw err;
      }
      if (publisher.backpressure) {
        await publisher.backpressure;
        continue;
      }
      const confirmed = this.publishOn(publisher, exchange, routingKey, content, properties);
      // undefined: the channel was already closed, so nothing was sent and trying again is safe.
      if (confirmed) return confirmed;
    }
  }

  /** Declares a queue and its bindings now and again after every reconnection. */
  async assertQueue(name: string, options: AssertQueueOptions): Promise<void> {
    const session = await this.waitForSession(Date.now() + this.waitMs);
    await this.withTemporaryChannel(session, (channel) => assertQueueOn(channel, name, options));
    this.declaredQueues.set(name, options);
  }

  /**
   * Consumes catalogue messages `names` from `queue`: the handler gets a payload validated by the
   * catalogue's schema; any other body is `options.onInvalid`'s outcome (dead-letter by default).
   */
  consume<N extends MessageName>(
    queue: string,
    names: readonly N[],
    handler: TypedMessageHandler<N>,
    options: TypedConsumeOptions,
  ): Promise<ConsumerHandle> {
    // Several names may share one definition (the lifecycle events): each schema is checked once.
    const checks = [...new Set(names.map((name) => MESSAGES[name] as MessageDefinition))].map((d) => d.check);
    const onInvalid = options.onInvalid ?? (() => DeadLetter(`not a ${names.join(' or ')} message`));
    return this.consumeRaw(
      queue,
      (message) => {
        const body = message.content;
        for (const check of checks) {
          if (check.Check(body)) return handler(body as MessageOf<N>, message);
        }
        return Promise.resolve(onInvalid(message));
      },
      options,
    );
  }

  /** Consumes raw deliveries (a queue whose bodies are no catalogue message, or validated by the caller). */
  async consumeRaw(queue: string, handler: MessageHandler, options: ConsumeOptions): Promise<ConsumerHandle> {
    if (!Number.isInteger(options.prefetch) || options.prefetch < 1) {
      throw new RangeError(`prefetch must be a positive integer, got ${options.prefetch}`);
    }
    const consumer: Consumer = {
      queue,
      handler,
      prefetch: options.prefetch,
      consumerTag: options.consumerTag,
      cancelled: false,
      inFlight: 0,
      resubscribeAttempt: 0,
    };
    const session = await this.waitForSession(Date.now() + this.waitMs);
    this.consumers.add(consumer);
    try {
      await this.subscribe(consumer, session);
    } catch (err) {
      // Lost with its connection: the reconnection subscribes it. Otherwise (e.g. no such queue)
      // the caller must know now.
      if (!session.closed) {
        this.consumers.delete(consumer);
        throw err;
      }
    }
    return { cancel: () => this.cancelConsumer(consumer) };
  }

  async queueStats(queue: string): Promise<QueueStats> {
    const session = await this.waitForSession(Date.now() + this.waitMs);
    // A 404 closes the channel it happens on, so it must not be a shared one.
    const reply = await this.withTemporaryChannel(session, (channel) => channel.checkQueue(queue));
    return { messageCount: reply.messageCount, consumerCount: reply.consumerCount };
  }

  /** Stops reconnecting, cancels consumers, waits for outstanding confirms, then closes. */
  async close(): Promise<void> {
    this.stopping = true;
    this.started = false;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.wakeConnectLoop?.();
    for (const timer of this.declaredQueueTimers.values()) clearTimeout(timer);
    this.declaredQueueTimers.clear();
    for (const waiter of [...this.waiters]) waiter.reject(new MessagingError('closed', 'AMQP client closed'));

    await Promise.allSettled([...this.consumers].map((consumer) => this.cancelConsumer(consumer)));
    // Bounded: a broker that blocks publishers (memory alarm) must not hang shutdown.
    await settledWithin([...this.pendingPublishes], this.waitMs);
    await this.connecting?.catch(() => undefined);
    await this.reconnecting;

    const session = this.session;
    this.session = undefined;
    if (session && !session.closed) {
      session.closed = true;
      try {
        await session.model.close();
      } catch (err) {
        this.log.debug({ err }, 'AMQP connection close failed');
      }
      this.log.info('AMQP connection closed');
      this.emit('disconnected');
    }
  }

  // --- connection lifecycle ---

  private async connectWithinDeadline(): Promise<void> {
    const deadline = Date.now() + this.connectTimeoutMs;
    let lastError: unknown;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.establish(Math.max(1000, deadline - Date.now()));
        return;
      } catch (err) {
        lastError = err;
        this.log.warn({ err, attempt: attempt + 1, url: redactUrl(this.options.url) }, 'AMQP connect failed');
        if (isPermanentError(err)) break;
      }
      const delay = reconnectDelay(attempt, this.reconnectMinMs, this.reconnectMaxMs);
      if (this.stopping || Date.now() + delay >= deadline) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wakeConnectLoop = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeConnectLoop = undefined;
      if (this.stopping) break;
    }
    this.started = false;
    const failure = this.stopping
      ? new MessagingError('closed', 'AMQP client closed while connecting', { cause: lastError })
      : new MessagingError(
          'not_connected',
          `could not connect to RabbitMQ at ${redactUrl(this.options.url)}: ${errorMessage(lastError)}`,
          { cause: lastError },
        );
    for (const waiter of [...this.waiters]) waiter.reject(failure);
    throw failure;
  }

  /** Opens a connection, declares topology, re-asserts queues and re-subscribes consumers. */
  private async establish(timeoutMs: number): Promise<void> {
    const model = await connect(this.options.url, {
      clientProperties: { connection_name: this.options.connectionName },
      timeout: timeoutMs,
      noDelay: true,
      keepAlive: true,
    });
    // One writev per tick instead of one write (and TCP packet) per frame; see write-coalescing.ts.
    const socket = (model.connection as { stream?: unknown }).stream;
    if (isWritable(socket)) coalesceWritesPerTick(socket);
    const session: Session = { model, closed: false };
    model.on('error', (err: Error) => this.log.warn({ err }, 'AMQP connection error'));
    model.on('close', (err?: Error) => this.onConnectionClosed(session, err));
    model.on('blocked', (reason: string) =>
      this.log.warn({ reason }, 'AMQP connection blocked by the broker'),
    );
    model.on('unblocked', () => this.log.info('AMQP connection unblocked'));
    try {
      if (this.stopping) throw new MessagingError('closed', 'AMQP client closed while connecting');
      await this.declareTopologyOn(session);
      await this.publisherFor(session);
      if (session.closed)
        throw new MessagingError('not_connected', 'AMQP connection closed while setting up');
      if (this.stopping) throw new MessagingError('closed', 'AMQP client closed while connecting');
    } catch (err) {
      if (!session.closed) {
        session.closed = true;
        await model.close().catch(() => undefined);
      }
      throw err;
    }

    this.session = session;
    // A queue that cannot be re-declared yet (typically an exclusive queue still held by the
    // broker's half-dead old connection: RESOURCE_LOCKED) must not hold up publishing.
    await Promise.all(
      [...this.declaredQueues].map(([name, options]) => this.redeclareQueue(session, name, options, 0)),
    );
    await Promise.all(
      [...this.consumers].map((consumer) =>
        this.subscribe(consumer, session).catch((err: unknown) => {
          this.log.error({ err, queue: consumer.queue }, 'AMQP consumer could not re-subscribe');
          this.scheduleResubscribe(consumer);
        }),
      ),
    );
    if (session.closed || this.session !== session) return;
    const reconnected = this.reconnectAttempt > 0;
    this.reconnectAttempt = 0;
    this.log.info(
      { url: redactUrl(this.options.url), consumers: this.consumers.size },
      reconnected ? 'AMQP reconnected' : 'AMQP connected',
    );
    for (const waiter of [...this.waiters]) waiter.resolve(session);
    this.emit('connected');
  }

  private onConnectionClosed(session: Session, err: Error | undefined): void {
    session.closed = true;
    if (this.session !== session) return;
    this.session = undefined;
    this.log.warn({ err }, 'AMQP connection lost');
    this.emit('disconnected');
    if (this.started && !this.stopping) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer || this.stopping) return;
    const delay = reconnectDelay(this.reconnectAttempt, this.reconnectMinMs, this.reconnectMaxMs);
    this.reconnectAttempt++;
    this.log.info({ delayMs: delay, attempt: this.reconnectAttempt }, 'AMQP reconnecting');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.stopping || this.session) return;
      this.reconnecting = this.establish(DEFAULT_WAIT_MS)
        .catch((err: unknown) => {
          this.log.warn({ err, attempt: this.reconnectAttempt }, 'AMQP reconnect failed');
          this.scheduleReconnect();
        })
        .finally(() => {
          this.reconnecting = undefined;
        });
    }, delay);
  }

  private async redeclareQueue(
    session: Session,
    name: string,
    options: AssertQueueOptions,
    attempt: number,
  ): Promise<void> {
    try {
      await this.withTemporaryChannel(session, (channel) => assertQueueOn(channel, name, options));
    } catch (err) {
      if (session.closed || this.stopping || this.declaredQueueTimers.has(name)) return;
      this.log.warn({ err, queue: name, attempt: attempt + 1 }, 'AMQP queue could not be re-declared');
      const timer = setTimeout(
        () => {
          this.declaredQueueTimers.delete(name);
          if (this.session === session && this.declaredQueues.get(name) === options) {
            void this.redeclareQueue(session, name, options, attempt + 1);
          }
        },
        reconnectDelay(attempt, this.reconnectMinMs, this.reconnectMaxMs),
      );
      this.declaredQueueTimers.set(name, timer);
    }
  }

  private waitForSession(deadline: number): Promise<Session> {
    if (this.stopping)
      return Promise.reject(new MessagingError('closed', 'AMQP client is closing or closed'));
    if (this.session && !this.session.closed) return Promise.resolve(this.session);
    if (!this.started) {
      return Promise.reject(
        new MessagingError(
          'not_connected',
          'AMQP client is not connected (connect() not called or client closed)',
        ),
      );
    }
    return new Promise<Session>((resolve, reject) => {
      const waiter: SessionWaiter = {
        resolve: (session) => {
          settle();
          resolve(session);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      };
      const timer = setTimeout(
        () =>
          waiter.reject(new MessagingError('not_connected', 'AMQP connection not re-established in time')),
        Math.max(0, deadline - Date.now()),
      );
      const settle = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      this.waiters.add(waiter);
    });
  }

  /**
   * Declares the topology; a dead-letter queue that already exists with other arguments (an
   * earlier version's unbounded queue, or another DLQ_MAX_LENGTH) is kept as it is, with a
   * warning, since RabbitMQ cannot change a queue's arguments (docs/operations.md, upgrade).
   */
  private async declareTopologyOn(session: Session): Promise<void> {
    const deadLetterMaxLength = this.options.deadLetterMaxLength ?? 0;
    try {
      await this.withTemporaryChannel(session, (channel) =>
        declareTopology(channel, this.names, this.workQueues, { deadLetterMaxLength }),
      );
    } catch (err) {
      const message = errorMessage(err);
      if (!/PRECONDITION_FAILED/.test(message) || !message.includes(`'${this.names.deadLetterQueue}'`))
        throw err;
      this.log.warn(
        { err, queue: this.names.deadLetterQueue, deadLetterMaxLength },
        `${this.names.deadLetterQueue} exists with other arguments and keeps them; to cap it at DLQ_MAX_LENGTH, delete it once no service uses it (GET /dlq in PostgreSQL stays complete) or set a RabbitMQ policy (docs/operations.md)`,
      );
      await this.withTemporaryChannel(session, (channel) =>
        declareTopology(channel, this.names, this.workQueues, { keepExistingDeadLetterQueue: true }),
      );
    }
  }

  private async withTemporaryChannel<T>(session: Session, use: (channel: Channel) => Promise<T>): Promise<T> {
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

  // --- publishing ---

  private publisherFor(session: Session): Promise<Publisher> {
    if (session.publisher && !session.publisher.closed) return Promise.resolve(session.publisher);
    session.publisherOpening ??= this.openPublisher(session).finally(() => {
      session.publisherOpening = undefined;
    });
    return session.publisherOpening;
  }

  private async openPublisher(session: Session): Promise<Publisher> {
    const channel = await session.model.createConfirmChannel();
    const publisher: Publisher = { channel, closed: false, returned: new Map() };
    channel.on('error', (err: Error) => {
      publisher.lastError = err;
      this.log.warn({ err }, 'AMQP publish channel closed by the broker');
    });
    channel.on('return', (message: Message) => {
      const id = message.properties.messageId as string | undefined;
      if (id !== undefined) publisher.returned.set(id, (publisher.returned.get(id) ?? 0) + 1);
    });
    channel.on('drain', () => releaseBackpressure(publisher));
    channel.on('close', () => {
      publisher.closed = true;
      releaseBackpressure(publisher);
      if (session.publisher === publisher) session.publisher = undefined;
    });
    session.publisher = publisher;
    return publisher;
  }

  private publishOn(
    publisher: Publisher,
    exchange: string,
    routingKey: string,
    content: Buffer,
    properties: Options.Publish & { messageId: string },
  ): Promise<void> | undefined {
    if (publisher.closed) return undefined;
    let settle!: { resolve: () => void; reject: (error: Error) => void };
    const confirmed = new Promise<void>((resolve, reject) => {
      settle = { resolve, reject };
    });
    const onConfirm = (err: unknown): void => {
      if (err !== null && err !== undefined) {
        settle.reject(confirmError(err, publisher, exchange, routingKey));
      } else if (properties.mandatory && takeReturned(publisher, properties.messageId)) {
        settle.reject(
          new MessagingError('unroutable', `no queue is bound to ${exchange} for routing key ${routingKey}`),
        );
      } else {
        settle.resolve();
      }
    };
    try {
      const writable = publisher.channel.publish(exchange, routingKey, content, properties, onConfirm);
      if (!writable && !publisher.backpressure) {
        applyBackpressure(publisher);
        this.log.debug('AMQP publish buffer full, waiting for drain');
      }
    } catch (err) {
      if (publisher.closed) return undefined;
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return confirmed;
  }

  // --- consuming ---

  private async subscribe(consumer: Consumer, session: Session): Promise<void> {
    if (consumer.cancelled || session.closed) return;
    if (consumer.subscribingOn === session || consumer.subscription?.session === session) return;
    consumer.subscribingOn = session;
    try {
      const channel = await session.model.createChannel();
      const subscription: Subscription = {
        session,
        channel,
        closed: false,
        failed: false,
        acks: new AckBatcher(channel, {
          onError: (err, messages) =>
            this.log.warn({ err, queue: consumer.queue, messages }, 'AMQP acks could not be sent'),
        }),
      };
      let ready = false;
      channel.on('error', (err: Error) => {
        subscription.failed = true;
        this.log.warn({ err, queue: consumer.queue }, 'AMQP consumer channel closed by the broker');
      });
      channel.on('close', () => {
        subscription.closed = true;
        // Unsettled deliveries go back to the queue with the channel; the broker redelivers them.
        subscription.acks.drop();
        if (ready) this.onSubscriptionClosed(consumer, subscription);
      });
      await channel.prefetch(consumer.prefetch);
      const reply = await channel.consume(
        consumer.queue,
        (message) => this.onDelivery(consumer, subscription, message),
        { noAck: false, consumerTag: consumer.consumerTag },
      );
      subscription.tag = reply.consumerTag;
      consumer.subscription = subscription;
      consumer.resubscribeAttempt = 0;
      ready = true;
      if (subscription.closed) {
        this.onSubscriptionClosed(consumer, subscription);
        return;
      }
      if (consumer.cancelled) {
        await this.stopSubscription(consumer, subscription);
        return;
      }
      this.log.info(
        { queue: consumer.queue, prefetch: consumer.prefetch, consumerTag: reply.consumerTag },
        'AMQP consumer subscribed',
      );
    } finally {
      if (consumer.subscribingOn === session) consumer.subscribingOn = undefined;
    }
  }

  private onSubscriptionClosed(consumer: Consumer, subscription: Subscription): void {
    if (consumer.subscription !== subscription) return;
    consumer.subscription = undefined;
    // Closed with its connection: the reconnection re-subscribes every consumer.
    if (!subscription.failed || consumer.cancelled || this.stopping) return;
    this.scheduleResubscribe(consumer);
  }

  private scheduleResubscribe(consumer: Consumer): void {
    if (consumer.resubscribeTimer || consumer.cancelled || this.stopping) return;
    const delay = reconnectDelay(consumer.resubscribeAttempt, this.reconnectMinMs, this.reconnectMaxMs);
    consumer.resubscribeAttempt++;
    consumer.resubscribeTimer = setTimeout(() => {
      consumer.resubscribeTimer = undefined;
      const session = this.session;
      if (!session || consumer.cancelled || this.stopping || consumer.subscription) return;
      this.subscribe(consumer, session).catch((err: unknown) => {
        this.log.warn(
          { err, queue: consumer.queue, attempt: consumer.resubscribeAttempt },
          'AMQP consumer re-subscribe failed',
        );
        this.scheduleResubscribe(consumer);
      });
    }, delay);
  }

  private onDelivery(consumer: Consumer, subscription: Subscription, message: ConsumeMessage | null): void {
    if (message === null) {
      // The broker cancelled the consumer (e.g. its queue was deleted).
      this.log.warn({ queue: consumer.queue }, 'AMQP consumer cancelled by the broker');
      subscription.failed = true;
      subscription.channel.close().catch(() => undefined);
      return;
    }
    subscription.acks.delivered(message);
    if (consumer.cancelled) {
      // Delivered between our basic.cancel and its reply: hand it back untouched.
      this.settle(consumer, subscription, message, { kind: 'requeue' });
      return;
    }
    consumer.inFlight++;
    void this.handleDelivery(consumer, subscription, message).finally(() => {
      consumer.inFlight--;
      if (consumer.cancelled && consumer.inFlight === 0) void this.stopSubscription(consumer, subscription);
    });
  }

  private async handleDelivery(
    consumer: Consumer,
    subscription: Subscription,
    message: ConsumeMessage,
  ): Promise<void> {
    let outcome: ConsumeOutcome;
    try {
      outcome = await consumer.handler(toInboundMessage(message));
    } catch (err) {
      outcome = outcomeForHandlerError(message.fields.redelivered);
      this.log.error(
        {
          err,
          queue: consumer.queue,
          messageId: message.properties.messageId as unknown,
          correlationId: message.properties.correlationId as unknown,
          redelivered: message.fields.redelivered,
          outcome: outcome.kind,
        },
        'AMQP message handler threw',
      );
    }
    this.settle(consumer, subscription, message, outcome);
  }

  private settle(
    consumer: Consumer,
    subscription: Subscription,
    message: ConsumeMessage,
    outcome: ConsumeOutcome,
  ): void {
    try {
      // The channel is gone: acks would never be sent, nacks would throw.
      if (subscription.closed) throw new Error('consumer channel closed');
      switch (outcome.kind) {
        case 'ack':
          subscription.acks.ack(message);
          break;
        case 'requeue':
          subscription.acks.forget(message);
          subscription.channel.nack(message, false, true);
          break;
        case 'dead-letter':
          subscription.acks.forget(message);
          subscription.channel.nack(message, false, false);
          this.log.warn(
            {
              queue: consumer.queue,
              messageId: message.properties.messageId as unknown,
              reason: outcome.reason,
            },
            'AMQP message dead-lettered',
          );
          break;
      }
    } catch (err) {
      // The channel is gone, so the broker has already put the message back for redelivery.
      this.log.warn(
        { err, queue: consumer.queue, outcome: outcome.kind },
        'AMQP message could not be settled',
      );
    }
  }

  private async cancelConsumer(consumer: Consumer): Promise<void> {
    if (consumer.cancelled) return;
    consumer.cancelled = true;
    this.consumers.delete(consumer);
    clearTimeout(consumer.resubscribeTimer);
    consumer.resubscribeTimer = undefined;
    const subscription = consumer.subscription;
    if (!subscription || subscription.closed) return;
    if (subscription.tag !== undefined) {
      try {
        await subscription.channel.cancel(subscription.tag);
      } catch (err) {
        this.log.debug({ err, queue: consumer.queue }, 'AMQP consumer cancel failed');
      }
    }
    // What is settled so far goes out now, whether or not the in-flight rest finishes in time.
    this.flushAcks(consumer, subscription);
    this.log.info({ queue: consumer.queue, inFlight: consumer.inFlight }, 'AMQP consumer cancelled');
    // In-flight messages are settled on this channel; it closes when the last one is.
    if (consumer.inFlight === 0) await this.stopSubscription(consumer, subscription);
  }

  private async stopSubscription(consumer: Consumer, subscription: Subscription): Promise<void> {
    if (consumer.subscription === subscription) consumer.subscription = undefined;
    if (subscription.closed) return;
    // Before channel.close(): the acks then precede the close on the wire.
    this.flushAcks(consumer, subscription);
    subscription.closed = true;
    await subscription.channel.close().catch(() => undefined);
  }

  private flushAcks(consumer: Consumer, subscription: Subscription): void {
    if (subscription.closed) return;
    try {
      subscription.acks.flush();
    } catch (err) {
      const messages = subscription.acks.drop();
      this.log.warn({ err, queue: consumer.queue, messages }, 'AMQP acks could not be sent');
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

async function settledWithin(promises: Promise<unknown>[], timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  await Promise.race([Promise.allSettled(promises), timeout]);
  clearTimeout(timer);
}

function applyBackpressure(publisher: Publisher): void {
  if (publisher.backpressure) return;
  publisher.backpressure = new Promise<void>((resolve) => {
    publisher.releaseBackpressure = resolve;
  });
}

function releaseBackpressure(publisher: Publisher): void {
  const release = publisher.releaseBackpressure;
  publisher.backpressure = undefined;
  publisher.releaseBackpressure = undefined;
  release?.();
}

function takeReturned(publisher: Publisher, messageId: string): boolean {
  const count = publisher.returned.get(messageId);
  if (count === undefined) return false;
  if (count <= 1) publisher.returned.delete(messageId);
  else publisher.returned.set(messageId, count - 1);
  return true;
}

function confirmError(
  err: unknown,
  publisher: Publisher,
  exchange: string,
  routingKey: string,
): MessagingError {
  const target = `${exchange} (${routingKey})`;
  if (err instanceof Error && err.message === 'message nacked') {
    return new MessagingError('nacked', `broker nacked the message published to ${target}`, { cause: err });
  }
  const cause = publisher.lastError ?? err;
  return new MessagingError(
    'channel_closed',
    `publish channel closed before the broker confirmed the message to ${target}: ${errorMessage(cause)}`,
    { cause },
  );
}

/** Errors that another attempt cannot fix: refused access, or topology that contradicts the broker's. */
function isPermanentError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 403 || code === 406;
}

function isWritable(stream: unknown): stream is Writable {
  const candidate = stream as Partial<Writable> | null | undefined;
  return (
    typeof candidate?.write === 'function' &&
    typeof candidate.cork === 'function' &&
    typeof candidate.uncork === 'function'
  );
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
