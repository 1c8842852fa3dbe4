import { EventEmitter } from 'node:events';
import {
  amqpNames,
  gatheringOf,
  isMessageName,
  messageDefinition,
  MESSAGES,
  type AmqpNames,
  type MessageDefinition,
  type MessageName,
  type MessageOf,
  type PayloadOf,
} from '@switchyard/contracts';
import {
  contextFrom,
  endSpan,
  injectInto,
  SPAN_ATTRIBUTES,
  SpanKind,
  startSpan,
  tracingEnabled,
  withSpan,
} from '@switchyard/observability';
import type { Logger } from 'pino';
import { DeadLetter, type ConsumeOutcome } from './ack-policy';
import { AmqpConnection } from './connection';
import { Consumers, type ConsumeOptions, type ConsumerHandle, type MessageHandler } from './consumer';
import { Declarations, type AssertQueueOptions, type QueueStats } from './declarations';
import type { InboundMessage } from './inbound-message';
import { encodeBody, type PublishOptions } from './publish-options';
import { Publisher } from './publisher';
import { DEFAULT_RECONNECT_MAX_MS, DEFAULT_RECONNECT_MIN_MS } from './reconnect-backoff';
import { durableQueueArguments, retryDelayTier, type QueueType } from './topology';
import { jsonArray, TurnBatches } from './turn-batches';

export type { ConsumeOptions, ConsumerHandle, MessageHandler } from './consumer';
export type { AssertQueueOptions, QueueStats } from './declarations';
export { MessagingError, type MessagingErrorCode } from './errors';

export interface AmqpClientOptions {
  /**
   * e.g. amqp://guest:guest@127.0.0.1:5672, or the nodes of a cluster separated by commas (the
   * client connects to one and moves to the next when it goes away).
   */
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
  /** AMQP_QUEUE_TYPE: how the durable queues are declared; default classic. */
  queueType?: QueueType;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** How long connect() keeps trying before it rejects. Default 10 000. */
  connectTimeoutMs?: number;
  /** How long publish(), consume() and queueStats() wait for a reconnection. Default 10 000. */
  disconnectedWaitMs?: number;
}

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

export type AmqpClientEvent = 'connected' | 'disconnected';

const DEFAULT_WAIT_MS = 10_000;

/**
 * The AMQP client of every Switchyard service, a facade over the connection (reconnects and
 * prepares each connection), the publisher (confirms, back-pressure) and the consumers (one
 * channel each, batched acks), with catalogue-typed publish() and consume().
 */
export class AmqpClient extends EventEmitter {
  readonly names: AmqpNames;
  readonly queueType: QueueType;

  private readonly log: Logger;
  private readonly waitMs: number;
  private readonly connection: AmqpConnection;
  private readonly publisher: Publisher;
  private readonly consumers: Consumers;
  private readonly declarations: Declarations;
  private readonly batches = new TurnBatches((batch, bodies) => this.publishBatch(batch, bodies));

  constructor(options: AmqpClientOptions) {
    super();
    this.names = amqpNames(options.prefix);
    this.queueType = options.queueType ?? 'classic';
    this.log = options.logger.child({ component: 'amqp', connectionName: options.connectionName });
    this.waitMs = options.disconnectedWaitMs ?? DEFAULT_WAIT_MS;
    this.connection = new AmqpConnection(
      {
        url: options.url,
        connectionName: options.connectionName,
        logger: this.log,
        reconnectMinMs: options.reconnectMinMs ?? DEFAULT_RECONNECT_MIN_MS,
        reconnectMaxMs: options.reconnectMaxMs ?? DEFAULT_RECONNECT_MAX_MS,
        connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_WAIT_MS,
        waitMs: this.waitMs,
      },
      {
        prepare: async (session) => {
          await this.declarations.declareTopology(session);
          await this.publisher.open(session);
        },
        restore: async (session) => {
          await this.declarations.restore(session);
          await this.consumers.restore(session);
        },
      },
    );
    this.publisher = new Publisher(this.connection, this.log, this.waitMs);
    this.consumers = new Consumers(this.connection, this.log);
    this.declarations = new Declarations(this.connection, {
      names: this.names,
      workQueues: options.workQueues ?? [],
      deadLetterMaxLength: options.deadLetterMaxLength ?? 0,
      queueType: this.queueType,
      logger: this.log,
    });
    this.connection.on('connected', () => this.emit('connected'));
    this.connection.on('disconnected', () => this.emit('disconnected'));
  }

  override on(event: AmqpClientEvent, listener: () => void): this {
    return super.on(event, listener);
  }

  override once(event: AmqpClientEvent, listener: () => void): this {
    return super.once(event, listener);
  }

  isConnected(): boolean {
    return this.connection.isConnected();
  }

  /** Connects and declares the topology; retries with backoff for up to connectTimeoutMs. */
  connect(): Promise<void> {
    return this.connection.connect();
  }

  /**
   * Publishes catalogue message `name`: exchange, routing key and AMQP properties come from its
   * definition, so the payload's type is checked against the name. A gathered message (a
   * lifecycle event) is also added to this turn's batch message for Switchyard's own consumers;
   * the publish resolves once the broker confirmed both.
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
    let headers = options.headers;
    // The active span's context travels along, unless the caller names one (a stored context).
    if (definition.traced && tracingEnabled() && headers?.['traceparent'] === undefined) {
      headers = { ...headers };
      injectInto(headers);
    }
    const gathering = gatheringOf(name);
    // Encoded once: the same bytes go out alone and inside the batch.
    const body = gathering ? encodeBody(payload) : payload;
    const publishOwn = (): Promise<void> =>
      this.publisher.publish(exchange, definition.routingKey(payload), body, {
        ...properties,
        priority: options.priority,
        correlationId: options.correlationId ?? properties.correlationId,
        messageId: options.messageId ?? properties.messageId,
        headers,
        cc,
        mandatory: definition.mandatory,
      });
    if (!gathering) return publishOwn();
    // The event's own message goes out with its batch, in one socket write.
    return this.batches.add(gathering.batch, gathering, body as Buffer, publishOwn);
  }

  /** One batch message of encoded items (see TurnBatches), as its catalogue definition says. */
  private publishBatch(batch: string, bodies: readonly Buffer[]): Promise<void> {
    if (!isMessageName(batch)) return Promise.reject(new RangeError(`${batch} is no catalogue message`));
    const definition: MessageDefinition = messageDefinition(batch);
    return this.publisher.publish(
      definition.exchange(this.names),
      definition.routingKey([]),
      jsonArray(bodies),
      {
        ...definition.properties([]),
        mandatory: definition.mandatory,
      },
    );
  }

  /** Publishes a body that is no catalogue message (replies, copies of rejected messages). */
  publishRaw(
    exchange: string,
    routingKey: string,
    body: unknown,
    options: PublishOptions = {},
  ): Promise<void> {
    return this.publisher.publish(exchange, routingKey, body, options);
  }

  /** Declares a queue and its bindings now and again after every reconnection. */
  assertQueue(name: string, options: AssertQueueOptions): Promise<void> {
    return this.declarations.assertQueue(name, options);
  }

  /**
   * Declares a service's own durable queue (durable, not exclusive) as AMQP_QUEUE_TYPE says, so
   * that it survives the loss of a node when the queues are quorum queues.
   */
  assertDurableQueue(name: string, bindings: AssertQueueOptions['bindings']): Promise<void> {
    return this.declarations.assertQueue(name, {
      durable: true,
      arguments: durableQueueArguments(this.queueType),
      bindings,
    });
  }

  /**
   * Adds and removes bindings of an existing queue at run time (a queue bound only while someone
   * needs its messages); asserted queues' own bindings are declared with assertQueue instead.
   */
  setBindings(
    queue: string,
    exchange: string,
    bind: readonly string[],
    unbind: readonly string[],
  ): Promise<void> {
    return this.declarations.setBindings(queue, exchange, bind, unbind);
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
    const definitions = [...new Set(names.map((name) => MESSAGES[name] as MessageDefinition))];
    const checks = definitions.map((d) => d.check);
    const traced = definitions.some((d) => d.traced);
    const onInvalid = options.onInvalid ?? (() => DeadLetter(`not a ${names.join(' or ')} message`));
    return this.consumeRaw(
      queue,
      (message) => {
        const body = message.content;
        for (const check of checks) {
          if (!check.Check(body)) continue;
          if (traced && tracingEnabled())
            return consumeTraced(queue, message, () => handler(body as MessageOf<N>, message));
          return handler(body as MessageOf<N>, message);
        }
        return Promise.resolve(onInvalid(message));
      },
      options,
    );
  }

  /** Consumes raw deliveries (a queue whose bodies are no catalogue message, or validated by the caller). */
  consumeRaw(queue: string, handler: MessageHandler, options: ConsumeOptions): Promise<ConsumerHandle> {
    return this.consumers.consume(queue, handler, options);
  }

  queueStats(queue: string): Promise<QueueStats> {
    return this.declarations.queueStats(queue);
  }

  /** Stops reconnecting, cancels consumers, waits for outstanding confirms, then closes. */
  async close(): Promise<void> {
    this.connection.stop();
    this.declarations.stop();
    await this.consumers.cancelAll();
    // What this turn gathered is published before the confirms are awaited.
    this.batches.flush();
    // Bounded: a broker that blocks publishers (memory alarm) must not hang shutdown.
    await this.publisher.settle(this.waitMs);
    await this.connection.close();
  }
}

/** Handles a traced delivery in a consumer span under the context its headers carry. */
async function consumeTraced(
  queue: string,
  message: InboundMessage,
  handle: () => Promise<ConsumeOutcome>,
): Promise<ConsumeOutcome> {
  const span = startSpan(`${queue} process`, {
    kind: SpanKind.CONSUMER,
    parent: contextFrom(message.headers),
    attributes: {
      'messaging.system': 'rabbitmq',
      'messaging.operation.type': 'process',
      'messaging.destination.name': queue,
      'messaging.message.id': String(message.properties.messageId ?? ''),
    },
  });
  try {
    const outcome = await withSpan(span, handle);
    span?.setAttribute(SPAN_ATTRIBUTES.ack, outcome.kind);
    endSpan(span);
    return outcome;
  } catch (error) {
    endSpan(span, error);
    throw error;
  }
}
