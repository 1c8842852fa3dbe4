import type { JobCloudEvent } from '@switchyard/contracts';
import {
  Ack,
  type AmqpClient,
  type ConsumeOutcome,
  type ConsumerHandle,
  type InboundMessage,
  subscribeJobEventBatches,
  type JobEventBatchHandler,
} from '@switchyard/messaging';
import type { Logger } from '@switchyard/observability';
import type { EventRecorder } from './event-recorder';
import type { JobMetrics } from './job-metrics';

export interface EventConsumerOptions {
  /** `amqpNames().metricsQueue`: durable, so batches published while this service is down wait for it. */
  queue: string;
  prefetch: number;
  /**
   * Acceptances that need a priority lookup are recorded and acked in batches: a batch closes this
   * long after its first acceptance, or once it holds `maxBatch` of them, whichever comes first.
   */
  batchWindowMs: number;
  maxBatch: number;
}

/**
 * The metrics consumer's prefetch (in batch messages), as a multiple of AMQP_PREFETCH: acceptances
 * wait up to one batch window (and a lookup) before they are acked, so the broker needs room to
 * keep streaming meanwhile. Events are small and only counted, and most messages are acked as
 * they arrive, so this costs nothing worth a setting of its own (AMQP_PREFETCH is at most 1 000,
 * so this stays within AMQP's 16-bit prefetch count; at most this many messages times
 * JOB_EVENT_BATCH_MAX events are held).
 */
export const METRICS_PREFETCH_FACTOR = 2;
/** Counters and histograms lag the events by at most this (plus one priority lookup). */
export const METRICS_BATCH_WINDOW_MS = 20;

export type PriorityLookup = (jobIds: string[]) => Promise<Map<string, number>>;

/** The outcome of every delivery recorded on arrival: one shared promise, nothing allocated per event. */
const ACKED: Promise<ConsumeOutcome> = Promise.resolve(Ack);

interface Batch {
  /** Only the parsed events: the deliveries themselves (body, properties) are not held here. */
  readonly events: JobCloudEvent[];
  readonly done: Promise<ConsumeOutcome>;
  settle(outcome: Promise<ConsumeOutcome>): void;
}

/**
 * Consumes the lifecycle event batches from the metrics service's own queue. Most messages are
 * recorded on arrival and acked at once (the client sends one multiple ack per tick), so a
 * delivery is held for less than a tick: deliveries held across young-generation collections get
 * promoted and keep their socket read buffers (external memory) alive until the next full GC,
 * which is what made this service's memory grow under a backlog. Only acceptances whose priority the event does not carry
 * are gathered into lookup batches — one timer, one promise and one priority lookup per batch —
 * recorded once the lookup answers, then acked together with every message that had one in it.
 * A message that is not a batch of job CloudEvents is counted, logged and acked (there is nothing
 * to retry).
 */
export class EventConsumer implements JobEventBatchHandler {
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
    this.consumer = await subscribeJobEventBatches(
      this.amqp,
      this.options.queue,
      this.options.prefetch,
      this,
    );
  }

  /** Stops deliveries and lets the messages already delivered be recorded and acked. */
  async stop(): Promise<void> {
    await this.consumer?.cancel();
    this.flush();
    await Promise.allSettled([...this.inFlight]);
  }

  onInvalid(message: InboundMessage): ConsumeOutcome {
    this.metrics.eventsDropped.inc({ reason: 'invalid' });
    this.logger.warn(
      { messageId: message.properties.messageId as unknown, routingKey: message.fields.routingKey },
      'not a batch of job CloudEvents; ignored',
    );
    return Ack;
  }

  /**
   * The events that need no lookup are recorded now, in order; the acceptances that need their
   * priority join the lookup batch, and the message settles once that batch is recorded. (An
   * event recorded now may so be counted before an earlier acceptance of the same message: the
   * recorder counts each event once whatever the order.)
   */
  onEvents(events: readonly JobCloudEvent[]): Promise<ConsumeOutcome> {
    const waiting: Promise<ConsumeOutcome>[] = [];
    for (const event of events) {
      if (!this.recorder.needsPriority(event)) {
        this.recorder.record(event);
        continue;
      }
      const gathered = this.gather(event);
      if (waiting[waiting.length - 1] !== gathered) waiting.push(gathered);
    }
    if (waiting.length <= 1) return waiting[0] ?? ACKED;
    // Its acceptances span several lookup batches: the message settles once all are recorded.
    return Promise.all(waiting).then(() => Ack);
  }

  /** Adds an acceptance to the open lookup batch; the batch's promise settles once it is recorded. */
  private gather(event: JobCloudEvent): Promise<ConsumeOutcome> {
    let batch = this.batch;
    if (batch === undefined) {
      let settle!: (outcome: Promise<ConsumeOutcome>) => void;
      const done = new Promise<ConsumeOutcome>((resolve) => {
        settle = resolve;
      });
      batch = { events: [], done, settle };
      this.batch = batch;
      this.timer = setTimeout(() => this.flush(), this.options.batchWindowMs);
    }
    batch.events.push(event);
    if (batch.events.length >= this.options.maxBatch) this.flush();
    return batch.done;
  }

  private flush(): void {
    const batch = this.batch;
    if (batch === undefined) return;
    this.batch = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
    const outcome = this.recordBatch(batch.events);
    this.inFlight.add(outcome);
    const forget = (): void => {
      this.inFlight.delete(outcome);
    };
    outcome.then(forget, forget);
    batch.settle(outcome);
  }

  private async recordBatch(events: JobCloudEvent[]): Promise<ConsumeOutcome> {
    const found = await this.lookUp(events.map((event) => event.data.jobId));
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
