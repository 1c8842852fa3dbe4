import type { ConfirmChannel, Message, Options } from 'amqplib';
import type { Logger } from 'pino';
import type { AmqpConnection, Session } from './connection';
import { errorMessage, MessagingError, settledWithin } from './errors';
import { encodeBody, toPublishProperties, type PublishOptions } from './publish-options';

/** The confirm channel of one session. */
interface PublishChannel {
  readonly channel: ConfirmChannel;
  closed: boolean;
  /** The channel's error, reported to the publishes whose confirms the channel's close fails. */
  lastError?: Error;
  /** Pending while the channel's write buffer is full. */
  backpressure?: Promise<void>;
  releaseBackpressure?: () => void;
  /** message ids of mandatory messages the broker returned, waiting for their confirm. */
  readonly returned: Map<string, number>;
  /** Fails each publish still waiting for its confirm; run when the channel closes. */
  readonly unconfirmed: Set<() => void>;
}

/**
 * Confirmed publishing on one confirm channel per connection. A publish waits (up to the client's
 * disconnectedWaitMs) for a connection rather than queueing without bound, and waits for 'drain'
 * when the channel's write buffer is full. Raw amqplib channels on the manager's connection, not
 * its ChannelWrapper: that one queues publishes without bound while disconnected.
 */
export class Publisher {
  private readonly channels = new WeakMap<Session, PublishChannel>();
  private readonly opening = new WeakMap<Session, Promise<PublishChannel>>();
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly connection: AmqpConnection,
    private readonly log: Logger,
    private readonly waitMs: number,
  ) {}

  /** Opens the session's confirm channel (part of preparing a session). */
  async open(session: Session): Promise<void> {
    await this.channelFor(session);
  }

  publish(exchange: string, routingKey: string, body: unknown, options: PublishOptions = {}): Promise<void> {
    const published = this.publishConfirmed(exchange, routingKey, body, options);
    // close() waits for every publish begun before it, not only those already written.
    this.pending.add(published);
    const forget = (): void => {
      this.pending.delete(published);
    };
    void published.then(forget, forget);
    return published;
  }

  /** Waits for outstanding confirms, at most timeoutMs. */
  settle(timeoutMs: number): Promise<void> {
    return settledWithin([...this.pending], timeoutMs);
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
    let nacks = 0;
    for (;;) {
      const session = await this.connection.waitForSession(deadline);
      let publisher: PublishChannel;
      try {
        publisher = await this.channelFor(session);
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
      if (!confirmed) continue;
      try {
        return await confirmed;
      } catch (err) {
        // The connection went away (its node died, say) before the broker confirmed: the message
        // may or may not be in a queue. Publish it again on the next connection, to whichever node
        // is left; a duplicate is harmless, every consumer is idempotent. Past the deadline (or for
        // any other refusal by the broker) the caller gets the error: "accepted" is never said of
        // a message no broker confirmed.
        if (Date.now() >= deadline) throw err;
        if (lostWithItsConnection(err, session, publisher)) {
          this.log.warn({ exchange, routingKey }, 'AMQP connection lost before a confirm; publishing again');
          continue;
        }
        // A nack: one of the queues the message was routed to could not take it — a quorum queue
        // whose leader's node just died and whose new leader is not elected yet, or a queue full
        // with overflow reject-publish. Other queues may hold it already; RabbitMQ's advice is to
        // publish again, which the deadline bounds.
        if (!(err instanceof MessagingError && err.code === 'nacked')) throw err;
        this.log.warn({ exchange, routingKey, nacks: ++nacks }, 'AMQP publish nacked; publishing again');
        await delay(Math.min(NACK_RETRY_MAX_MS, NACK_RETRY_MIN_MS * 2 ** (nacks - 1), deadline - Date.now()));
      }
    }
  }

  private channelFor(session: Session): Promise<PublishChannel> {
    const open = this.channels.get(session);
    if (open && !open.closed) return Promise.resolve(open);
    let opening = this.opening.get(session);
    if (!opening) {
      opening = this.openChannel(session).finally(() => this.opening.delete(session));
      this.opening.set(session, opening);
    }
    return opening;
  }

  private async openChannel(session: Session): Promise<PublishChannel> {
    const channel = await session.model.createConfirmChannel();
    const publisher: PublishChannel = { channel, closed: false, returned: new Map(), unconfirmed: new Set() };
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
      if (this.channels.get(session) === publisher) this.channels.delete(session);
      // amqplib fails the pending confirms of a closed channel only up to the first message the
      // broker confirmed out of order (its loop stops at the gap that confirm left): the publishes
      // after it would wait forever, and a lifecycle event would then reach neither the bus nor the
      // outbox. Whatever it left unsettled fails here, as lost with the connection.
      for (const fail of [...publisher.unconfirmed]) fail();
    });
    this.channels.set(session, publisher);
    return publisher;
  }

  private publishOn(
    publisher: PublishChannel,
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
    const fail = (): void => onConfirm(new Error('channel closed'));
    const onConfirm = (err: unknown): void => {
      publisher.unconfirmed.delete(fail);
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
    publisher.unconfirmed.add(fail);
    try {
      const writable = publisher.channel.publish(exchange, routingKey, content, properties, onConfirm);
      if (!writable && !publisher.backpressure) {
        applyBackpressure(publisher);
        this.log.debug('AMQP publish buffer full, waiting for drain');
      }
    } catch (err) {
      publisher.unconfirmed.delete(fail);
      if (publisher.closed) return undefined;
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return confirmed;
  }
}

/** Gaps between publishes of a nacked message: 50 ms, doubling, at most 1 s (within the deadline). */
const NACK_RETRY_MIN_MS = 50;
const NACK_RETRY_MAX_MS = 1000;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

function applyBackpressure(publisher: PublishChannel): void {
  if (publisher.backpressure) return;
  publisher.backpressure = new Promise<void>((resolve) => {
    publisher.releaseBackpressure = resolve;
  });
}

function releaseBackpressure(publisher: PublishChannel): void {
  const release = publisher.releaseBackpressure;
  publisher.backpressure = undefined;
  publisher.releaseBackpressure = undefined;
  release?.();
}

/** The confirm failed because the connection closed, not because the broker refused the message. */
function lostWithItsConnection(err: unknown, session: Session, publisher: PublishChannel): boolean {
  return (
    err instanceof MessagingError &&
    err.code === 'channel_closed' &&
    (session.closed || publisher.lastError === undefined)
  );
}

function takeReturned(publisher: PublishChannel, messageId: string): boolean {
  const count = publisher.returned.get(messageId);
  if (count === undefined) return false;
  if (count <= 1) publisher.returned.delete(messageId);
  else publisher.returned.set(messageId, count - 1);
  return true;
}

function confirmError(
  err: unknown,
  publisher: PublishChannel,
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
