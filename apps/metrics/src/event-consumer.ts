import { isJobCloudEvent } from '@switchyard/contracts';
import {
  Ack,
  type AmqpClient,
  type ConsumeOutcome,
  type ConsumerHandle,
  type InboundMessage,
} from '@switchyard/messaging';
import type { Logger } from '@switchyard/observability';
import type { EventRecorder } from './event-recorder';
import type { JobMetrics } from './job-metrics';

export interface EventConsumerOptions {
  /** `${AMQP_PREFIX}.metrics`: durable, so events published while this service is down wait for it. */
  queue: string;
  prefetch: number;
}

/**
 * Consumes `job.#` from the metrics service's own queue. Each event is recorded, then acked; a
 * message that is not a job CloudEvent is counted, logged and acked (there is nothing to retry).
 */
export class EventConsumer {
  private consumer: ConsumerHandle | undefined;
  private readonly inFlight = new Set<Promise<ConsumeOutcome>>();

  constructor(
    private readonly options: EventConsumerOptions,
    private readonly amqp: AmqpClient,
    private readonly recorder: EventRecorder,
    private readonly priorityOf: (jobId: string) => Promise<number | undefined>,
    private readonly metrics: JobMetrics,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    await this.amqp.assertQueue(this.options.queue, {
      durable: true,
      bindings: [{ exchange: this.amqp.names.eventsExchange, pattern: 'job.#' }],
    });
    this.consumer = await this.amqp.consume(this.options.queue, (m) => this.track(this.onMessage(m)), {
      prefetch: this.options.prefetch,
    });
  }

  /** Stops deliveries and lets the messages already delivered be recorded and acked. */
  async stop(): Promise<void> {
    await this.consumer?.cancel();
    await Promise.allSettled([...this.inFlight]);
  }

  private track(outcome: Promise<ConsumeOutcome>): Promise<ConsumeOutcome> {
    this.inFlight.add(outcome);
    const forget = (): void => {
      this.inFlight.delete(outcome);
    };
    outcome.then(forget, forget);
    return outcome;
  }

  private async onMessage(message: InboundMessage): Promise<ConsumeOutcome> {
    if (!isJobCloudEvent(message.content)) {
      this.metrics.eventsDropped.inc({ reason: 'invalid' });
      this.logger.warn(
        { messageId: message.properties.messageId as unknown, routingKey: message.fields.routingKey },
        'not a job CloudEvent; ignored',
      );
      return Ack;
    }
    const event = message.content;
    const priority = this.recorder.needsPriority(event) ? await this.priorityOf(event.data.jobId) : undefined;
    this.recorder.record(event, priority);
    return Ack;
  }
}
