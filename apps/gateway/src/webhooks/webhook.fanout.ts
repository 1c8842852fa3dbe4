import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import {
  eventRoutingKey,
  WEBHOOK_EVENT_TYPES,
  jobEventName,
  type JobCloudEvent,
  type WebhookEventType,
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
/**
 * How often each gateway checks the queue's bindings against the enabled endpoints: repairs what a
 * gateway that died between an endpoint change and its routing, an endpoint disabled by failing
 * deliveries, or a broker that lost its bindings left behind.
 */
const ROUTING_CHECK_MS = 30000;

/** Events gathered for one statement; every message of the batch gets the batch's outcome. */
interface Batch {
  events: JobCloudEvent[];
  outcome: Promise<ConsumeOutcome>;
}

/**
 * Turns terminal job events into webhook deliveries: the gateways share one durable queue, bound
 * to the terminal routing keys that enabled endpoints take (none while no endpoint is enabled, so
 * that webhooks cost nothing until they are used: see `route`), and each batch of events becomes delivery rows for the matching
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
  /** Checks the bindings now and then, and after every reconnection. */
  private routingTimer: NodeJS.Timeout | undefined;
  private readonly onReconnect = () => void this.checkRouting();

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly amqp: AmqpClient,
    private readonly webhooks: WebhooksRepository,
    private readonly deliverer: WebhookDeliverer,
  ) {}

  async start(): Promise<void> {
    // No bindings declared with the queue: `route` owns them.
    this.consumer = await subscribeJobEvents(this.amqp, this.amqp.names.webhooksQueue, BATCH * 2, this, []);
    // Not fatal: a failed check is tried again on the timer.
    await this.checkRouting();
    this.routingTimer = setInterval(() => void this.checkRouting(), ROUTING_CHECK_MS);
    this.routingTimer.unref();
    this.amqp.on('connected', this.onReconnect);
  }

  /**
   * Binds the queue to the routing keys of `eventTypes` and unbinds it from the other terminal
   * ones. WebhooksRepository.withRouting calls it, under its lock and before committing, after
   * every change of the enabled endpoints: once an endpoint's creation is answered, the events of
   * jobs that end afterwards reach the queue.
   */
  readonly route = async (eventTypes: string[]): Promise<void> => {
    const wanted = new Set<string>(eventTypes);
    const key = (type: WebhookEventType) => eventRoutingKey(jobEventName({ type }));
    await this.amqp.setBindings(
      this.amqp.names.webhooksQueue,
      this.amqp.names.eventsExchange,
      WEBHOOK_EVENT_TYPES.filter((type) => wanted.has(type)).map(key),
      WEBHOOK_EVENT_TYPES.filter((type) => !wanted.has(type)).map(key),
    );
  };

  private async checkRouting(): Promise<void> {
    try {
      await this.webhooks.withRouting(() => Promise.resolve(), this.route);
    } catch (error) {
      this.logger.warn({ err: error }, 'could not check the webhook fan-out bindings; trying again later');
    }
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.routingTimer);
    this.amqp.off('connected', this.onReconnect);
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
