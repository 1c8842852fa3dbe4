import { isJobCloudEvent, type JobCloudEvent } from '@switchyard/contracts';
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
  /**
   * Deliveries are recorded and acked in batches: a batch closes this long after its first
   * delivery, or once it holds `maxBatch` deliveries, whichever comes first.
   */
  batchWindowMs: number;
  maxBatch: number;
}

/**
 * The metrics consumer's prefetch, as a multiple of AMQP_PREFETCH: deliveries wait up to one batch
 * window before they are acked, so the broker needs room to keep streaming meanwhile. Events are
 * small and only counted, so holding a few hundred costs nothing worth a setting of its own
 * (AMQP_PREFETCH is at most 1 000, so this stays within AMQP's 16-bit prefetch count).
 */
export const METRICS_PREFETCH_FACTOR = 8;
/** Counters and histograms lag the events by at most this (plus one priority lookup). */
export const METRICS_BATCH_WINDOW_MS = 20;

export type PriorityLookup = (jobIds: string[]) => Promise<Map<string, number>>;

interface Batch {
  readonly messages: InboundMessage[];
  readonly done: Promise<ConsumeOutcome>;
  settle(outcome: Promise<ConsumeOutcome>): void;
}

/**
 * Consumes `job.#` from the metrics service's own queue. Deliveries are gathered into batches
 * (one timer, one promise and one priority lookup per batch rather than per event), each batch is
 * recorded in delivery order, then all of it is acked at once (one multiple ack on the wire). A
 * message that is not a job CloudEvent is counted, logged and acked (there is nothing to retry).
 */
export class EventConsumer {
  private consumer: ConsumerHandle | undefined;
  private batch: Batch | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<ConsumeOutcome>>();

  constructor(
    private readonly options: EventConsumerOptions,
    private readonly amqp: AmqpClient,
    private readonly recorder: EventRecorder,
    private readonly priorities: PriorityLookup,
    private readonly metrics: JobMetrics,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    await this.amqp.assertQueue(this.options.queue, {
      durable: true,
      bindings: [{ exchange: this.amqp.names.eventsExchange, pattern: 'job.#' }],
    });
    this.consumer = await this.amqp.consume(this.options.queue, (m) => this.onMessage(m), {
      prefetch: this.options.prefetch,
    });
  }

  /** Stops deliveries and lets the messages already delivered be recorded and acked. */
  async stop(): Promise<void> {
    await this.consumer?.cancel();
    this.flush();
    await Promise.allSettled([...this.inFlight]);
  }

  /** Every delivery of a batch gets the batch's promise: settled once the whole batch is recorded. */
  onMessage(message: InboundMessage): Promise<ConsumeOutcome> {
    let batch = this.batch;
    if (batch === undefined) {
      let settle!: (outcome: Promise<ConsumeOutcome>) => void;
      const done = new Promise<ConsumeOutcome>((resolve) => {
        settle = resolve;
      });
      batch = { messages: [], done, settle };
      this.batch = batch;
      this.timer = setTimeout(() => this.flush(), this.options.batchWindowMs);
    }
    batch.messages.push(message);
    if (batch.messages.length >= this.options.maxBatch) this.flush();
    return batch.done;
  }

  private flush(): void {
    const batch = this.batch;
    if (batch === undefined) return;
    this.batch = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
    const outcome = this.recordBatch(batch.messages);
    this.inFlight.add(outcome);
    const forget = (): void => {
      this.inFlight.delete(outcome);
    };
    outcome.then(forget, forget);
    batch.settle(outcome);
  }

  private async recordBatch(messages: InboundMessage[]): Promise<ConsumeOutcome> {
    const events: JobCloudEvent[] = [];
    let lookup: string[] | undefined;
    for (const message of messages) {
      if (!isJobCloudEvent(message.content)) {
        this.metrics.eventsDropped.inc({ reason: 'invalid' });
        this.logger.warn(
          { messageId: message.properties.messageId as unknown, routingKey: message.fields.routingKey },
          'not a job CloudEvent; ignored',
        );
        continue;
      }
      const event = message.content;
      events.push(event);
      if (this.recorder.needsPriority(event)) (lookup ??= []).push(event.data.jobId);
    }
    const found = lookup === undefined ? undefined : await this.lookUp(lookup);
    for (const event of events) {
      this.recorder.record(event, found?.get(event.data.jobId));
    }
    return Ack;
  }

  /** A failed lookup counts its jobs with priority="unknown" rather than holding the events back. */
  private async lookUp(jobIds: string[]): Promise<Map<string, number> | undefined> {
    try {
      return await this.priorities(jobIds);
    } catch (error) {
      this.logger.warn(
        { err: error, count: jobIds.length },
        'job priorities unavailable; counted with priority="unknown"',
      );
      return undefined;
    }
  }
}
