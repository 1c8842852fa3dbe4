import type { Channel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import { AckBatcher } from './ack-batcher';
import { outcomeForHandlerError, type ConsumeOutcome } from './ack-policy';
import type { AmqpConnection, Session } from './connection';
import { toInboundMessage, type InboundMessage } from './inbound-message';

export interface ConsumeOptions {
  prefetch: number;
  consumerTag?: string;
}

export type MessageHandler = (message: InboundMessage) => Promise<ConsumeOutcome>;

export interface ConsumerHandle {
  /** Stops new deliveries; messages already delivered can still be settled. */
  cancel(): Promise<void>;
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

/**
 * The consumers: one channel each (so prefetch is per consumer), batched acks, and re-subscription
 * after a reconnection or after the broker closed the channel.
 */
export class Consumers {
  private readonly consumers = new Set<Consumer>();

  constructor(
    private readonly connection: AmqpConnection,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.consumers.size;
  }

  async consume(queue: string, handler: MessageHandler, options: ConsumeOptions): Promise<ConsumerHandle> {
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
    const session = await this.connection.waitForSession();
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
    return { cancel: () => this.cancel(consumer) };
  }

  /** Subscribes every consumer on a new connection. */
  async restore(session: Session): Promise<void> {
    await Promise.all(
      [...this.consumers].map((consumer) =>
        this.subscribe(consumer, session).catch((err: unknown) => {
          this.log.error({ err, queue: consumer.queue }, 'AMQP consumer could not re-subscribe');
          this.scheduleResubscribe(consumer);
        }),
      ),
    );
  }

  async cancelAll(): Promise<void> {
    await Promise.allSettled([...this.consumers].map((consumer) => this.cancel(consumer)));
  }

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
        {
          noAck: false,
          consumerTag: consumer.consumerTag,
        },
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
    if (!subscription.failed || consumer.cancelled || this.connection.stopping) return;
    this.scheduleResubscribe(consumer);
  }

  private scheduleResubscribe(consumer: Consumer): void {
    if (consumer.resubscribeTimer || consumer.cancelled || this.connection.stopping) return;
    const delay = this.connection.retryDelay(consumer.resubscribeAttempt);
    consumer.resubscribeAttempt++;
    consumer.resubscribeTimer = setTimeout(() => {
      consumer.resubscribeTimer = undefined;
      const session = this.connection.current();
      if (!session || consumer.cancelled || this.connection.stopping || consumer.subscription) return;
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
    void this.handle(consumer, subscription, message).finally(() => {
      consumer.inFlight--;
      if (consumer.cancelled && consumer.inFlight === 0) void this.stopSubscription(consumer, subscription);
    });
  }

  private async handle(
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

  private async cancel(consumer: Consumer): Promise<void> {
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
