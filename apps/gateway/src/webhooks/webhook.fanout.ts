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
const FLUSH_MS = 20;
const FAILED_BATCH_BACKOFF_MS = 1000;

interface Pending {
  event: JobCloudEvent;
  resolve: (outcome: ConsumeOutcome) => void;
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
  private buffer: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly amqp: AmqpClient,
    private readonly webhooks: WebhooksRepository,
    private readonly deliverer: WebhookDeliverer,
  ) {}

  async start(): Promise<void> {
    const patterns = WEBHOOK_EVENT_TYPES.map((type) => eventRoutingKey(jobEventName({ type })));
    this.consumer = await subscribeJobEvents(this.amqp, this.amqp.names.webhooksQueue, BATCH * 2, this, patterns);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.consumer?.cancel();
    await this.flush();
  }

  onInvalid(message: InboundMessage): ConsumeOutcome {
    this.logger.warn({ messageId: message.properties.messageId as unknown }, 'not a job CloudEvent; dead-lettered');
    return DeadLetter('not a job CloudEvent');
  }

  onEvent(event: JobCloudEvent): Promise<ConsumeOutcome> {
    return new Promise((resolve) => {
      this.buffer.push({ event, resolve });
      if (this.buffer.length >= BATCH) void this.flush();
      else this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
    });
  }

  private flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.buffer;
    this.buffer = [];
    this.writing = this.writing.then(() => this.write(batch));
    return this.writing;
  }

  private async write(batch: Pending[]): Promise<void> {
    if (!batch.length) return;
    try {
      const created = await this.webhooks.enqueueForEvents(
        batch.map(({ event }) => ({
          eventId: event.id,
          eventType: event.type,
          jobId: event.data.jobId,
          tenant: event.data.tenant,
          jobType: event.data.type,
          payload: JSON.stringify(event),
        })),
        this.config.WEBHOOK_RETRY_WINDOW_MS,
      );
      for (const { resolve } of batch) resolve(Ack);
      if (created > 0) this.deliverer.kick();
    } catch (error) {
      this.logger.warn({ err: error, count: batch.length }, 'could not record webhook deliveries; requeued');
      await new Promise((r) => setTimeout(r, FAILED_BATCH_BACKOFF_MS));
      for (const { resolve } of batch) resolve(Requeue);
    }
  }
}
