import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import {
  eventRoutingKey,
  WEBHOOK_EVENT_TYPES,
  jobEventName,
  type JobCloudEvent,
} from '@switchyard/contracts';
import {
  Ack,
  AmqpClient,
  DeadLetter,
  Requeue,
  subscribeJobEvents,
  type ConsumeOutcome,
  type ConsumerHandle,
  type InboundMessage,
  type JobEventHandler,
} from '@switchyard/messaging';
import { WebhooksRepository } from '@switchyard/persistence';
import { GATEWAY_CONFIG, LOGGER, type GatewayConfig, type Logger } from '../gateway.tokens';
import { WebhookDeliverer } from './webhook.deliverer';

const BATCH = 200;
const GATHER_MS = 20;
const FAILED_BATCH_BACKOFF_MS = 1000;

/** Events gathered for one statement; every message of the batch gets the batch's outcome. */
interface Batch {
  events: JobCloudEvent[];
  outcome: Promise<ConsumeOutcome>;
}

/**
 * Turns terminal job events into webhook deliveries: the gateways share one durable queue bound to
 * the terminal routing keys, and each batch of events becomes delivery rows for the matching
 * endpoints in one statement before its messages are acked. Events published while every gateway
 * is down wait in the queue; a redelivered event adds no second delivery (unique per endpoint and
 * event id).
 */
@Injectable()
export class WebhookFanout implements JobEventHandler, OnApplicationShutdown {
  private consumer: ConsumerHandle | undefined;
  /** The batch new events join, until it is full or GATHER_MS passed. */
  private open: Batch | undefined;
  /** The last batch's write: batches are written one after another. */
  private written: Promise<unknown> = Promise.resolve();

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly amqp: AmqpClient,
    private readonly webhooks: WebhooksRepository,
    private readonly deliverer: WebhookDeliverer,
  ) {}

  async start(): Promise<void> {
    const patterns = WEBHOOK_EVENT_TYPES.map((type) => eventRoutingKey(jobEventName({ type })));
    this.consumer = await subscribeJobEvents(
      this.amqp,
      this.amqp.names.webhooksQueue,
      BATCH * 2,
      this,
      patterns,
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.consumer?.cancel();
    this.open = undefined;
    await this.written;
  }

  /** Nothing but job CloudEvents is published on these routing keys: anything else is poison. */
  onInvalid(message: InboundMessage): ConsumeOutcome {
    const { messageId, type } = message.properties as { messageId?: unknown; type?: unknown };
    this.logger.warn({ messageId, type }, 'webhook fan-out got something that is not a job CloudEvent');
    return DeadLetter('webhook fan-out: not a job CloudEvent');
  }

  onEvent(event: JobCloudEvent): Promise<ConsumeOutcome> {
    let batch = this.open;
    if (!batch) {
      const events: JobCloudEvent[] = [];
      const gathered = new Promise<void>((resolve) => setTimeout(resolve, GATHER_MS)).then(() => {
        if (this.open?.events === events) this.open = undefined;
      });
      const outcome = Promise.all([gathered, this.written]).then(() => this.record(events));
      this.written = outcome;
      batch = this.open = { events, outcome };
    }
    batch.events.push(event);
    if (batch.events.length >= BATCH) this.open = undefined;
    return batch.outcome;
  }

  /** One statement for the whole batch; Ack after its commit, Requeue (after a pause) on failure. */
  private async record(events: JobCloudEvent[]): Promise<ConsumeOutcome> {
    try {
      const created = await this.webhooks.enqueueForEvents(
        events.map((event) => ({
          eventId: event.id,
          eventType: event.type,
          jobId: event.data.jobId,
          tenant: event.data.tenant,
          jobType: event.data.type,
          payload: JSON.stringify(event),
        })),
        this.config.WEBHOOK_RETRY_WINDOW_MS,
      );
      if (created > 0) this.deliverer.kick();
      return Ack;
    } catch (error) {
      this.logger.warn({ err: error, count: events.length }, 'could not record webhook deliveries; requeued');
      await new Promise((resolve) => setTimeout(resolve, FAILED_BATCH_BACKOFF_MS));
      return Requeue;
    }
  }
}
