import { Counter, type Registry } from 'prom-client';
import {
  DeadLetter,
  Requeue,
  Ack,
  type AmqpClient,
  type ConsumeOutcome,
  type ConsumerHandle,
  type InboundMessage,
  subscribeJobEventBatches,
  type JobEventBatchHandler,
} from '@switchyard/messaging';
import {
  historyWrittenByProducer,
  isTerminal,
  jobEventName,
  type JobCloudEvent,
} from '@switchyard/contracts';
import type { JobEventInput, LiveProgressStore } from '@switchyard/live-state';
import { METRIC_PREFIX, type Logger } from '@switchyard/observability';
import { DataRejected, type ProjectionRepository } from '@switchyard/persistence';

export interface ProjectorOptions {
  queue: string;
  batchSize: number;
  flushMs: number;
  /** Tries of one event alone before it is parked (default 3). */
  parkAfterAttempts?: number;
  /** Pause between those tries (default 100 ms, doubling). */
  retryDelayMs?: number;
}

export const TRACKER_PARKED_EVENTS_TOTAL = `${METRIC_PREFIX}tracker_parked_events_total`;

const DEFAULT_PARK_AFTER_ATTEMPTS = 3;

/** One delivered message: its events, in publish order, and how to settle it. */
interface Pending {
  events: readonly JobCloudEvent[];
  resolve: (outcome: ConsumeOutcome) => void;
}

/**
 * Batch messages the tracker takes at a time for a given TRACKER_BATCH_SIZE: enough for two
 * writes' worth of events when messages carry a few events each (a busy system's turns carry
 * more), never fewer than 16; it bounds what the tracker holds to this many times
 * JOB_EVENT_BATCH_MAX events.
 */
export function trackerPrefetch(batchSize: number): number {
  return Math.max(16, Math.ceil(batchSize / 4));
}

const FAILED_FLUSH_BACKOFF_MS = 1000;

/**
 * Projects lifecycle events into live progress (Redis) and, for `progress` events, history and
 * latest-wins progress (PostgreSQL): the producers of the other events wrote their history rows
 * with the state change (HISTORY_WRITTEN_BY_PRODUCER). The producers' batch messages are buffered
 * and written together, up to TRACKER_BATCH_SIZE events (or half the prefetch in messages) per
 * write; each message is acked only after all its events are durable, and stale or repeated
 * events (by seq) change nothing in either store.
 */
export class EventProjector implements JobEventBatchHandler {
  private buffer: Pending[] = [];
  private bufferedEvents = 0;
  private readonly prefetch: number;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private consumer: ConsumerHandle | undefined;
  private lagMs = 0;
  private readonly parkedTotal = new Counter({
    name: TRACKER_PARKED_EVENTS_TOTAL,
    help: 'Events the tracker could not write after several tries and parked in parked_events',
    registers: [],
  });

  constructor(
    private readonly options: ProjectorOptions,
    private readonly amqp: AmqpClient,
    private readonly live: LiveProgressStore,
    private readonly history: ProjectionRepository,
    private readonly logger: Logger,
  ) {
    this.prefetch = trackerPrefetch(options.batchSize);
  }

  /** Adds the tracker's parked-events counter to `registry`. */
  registerMetrics(registry: Registry): void {
    registry.registerMetric(this.parkedTotal);
  }

  /** Milliseconds between an event's time and its projection, for the tracker's lag metric. */
  lag(): number {
    return this.lagMs;
  }

  async start(): Promise<void> {
    this.consumer = await subscribeJobEventBatches(this.amqp, this.options.queue, this.prefetch, this);
  }

  async stop(): Promise<void> {
    await this.consumer?.cancel();
    await this.flushNow();
  }

  onInvalid(message: InboundMessage): ConsumeOutcome {
    this.logger.warn(
      { messageId: message.properties.messageId as unknown },
      'not a batch of job CloudEvents; dead-lettered',
    );
    return DeadLetter('not a batch of job CloudEvents');
  }

  onEvents(events: readonly JobCloudEvent[]): Promise<ConsumeOutcome> {
    return new Promise((resolve) => {
      this.buffer.push({ events, resolve });
      this.bufferedEvents += events.length;
      // Half the prefetch in messages: no more may come until a write acks some.
      if (this.bufferedEvents >= this.options.batchSize || this.buffer.length >= this.prefetch / 2) {
        void this.flushNow();
      } else this.timer ??= setTimeout(() => void this.flushNow(), this.options.flushMs);
    });
  }

  private flushNow(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.buffer;
    this.buffer = [];
    this.bufferedEvents = 0;
    // Batches are written one after another so a later batch never overtakes an earlier one.
    this.flushing = this.flushing.then(() => this.write(batch));
    return this.flushing;
  }

  /** One line per finished job ties the tracker into the job's correlated log trail. */
  private logTerminal(event: JobCloudEvent): void {
    const { jobId, tenant, type, status, attempt } = event.data;
    if (!isTerminal(status)) return;
    this.logger.info({ correlationId: event.correlationid, jobId, tenant, type, attempt }, `job ${status}`);
  }

  private async write(batch: Pending[]): Promise<void> {
    if (!batch.length) return;
    try {
      await this.project(batch.flatMap((pending) => pending.events));
      for (const { resolve } of batch) resolve(Ack);
    } catch (error) {
      if (!isPoisonError(error)) {
        await this.requeue(batch, error);
        return;
      }
      // One event PostgreSQL or Redis rejects must not hold back the rest: the batch is written
      // again one event at a time, and an event that still fails is parked.
      this.logger.warn(
        { err: error, count: batch.length },
        'projection batch rejected; writing its events one by one',
      );
      await this.isolate(batch);
    }
  }

  /**
   * Writes each message's events one at a time; parks an event that fails `parkAfterAttempts`
   * times with a data error. A message is acked once each of its events is written or parked.
   */
  private async isolate(batch: Pending[]): Promise<void> {
    for (let i = 0; i < batch.length; i++) {
      const pending = batch[i];
      for (const event of pending.events) {
        const failure = await this.writeAlone(event);
        if (failure === undefined) continue;
        if (!isPoisonError(failure) || !(await this.park(event, failure))) {
          // A dependency went away meanwhile: this message and the rest go back to the queue (the
          // events already written change nothing when they come again).
          await this.requeue(batch.slice(i), failure);
          return;
        }
      }
      pending.resolve(Ack);
    }
  }

  /** Writes one event, trying a data error again; undefined once written, else the last error. */
  private async writeAlone(event: JobCloudEvent): Promise<unknown> {
    const attempts = this.parkAfterAttempts();
    let failure: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        await this.project([event]);
        return undefined;
      } catch (error) {
        failure = error;
        if (!isPoisonError(error)) break;
        if (attempt < attempts) await sleep((this.options.retryDelayMs ?? 100) * 2 ** (attempt - 1));
      }
    }
    return failure;
  }

  private parkAfterAttempts(): number {
    return this.options.parkAfterAttempts ?? DEFAULT_PARK_AFTER_ATTEMPTS;
  }

  /** Stores the event in parked_events; false when even that failed (the event is then requeued). */
  private async park(event: JobCloudEvent, failure: unknown): Promise<boolean> {
    const attempts = this.parkAfterAttempts();
    const reason = failure instanceof Error ? failure.message : String(failure);
    try {
      await this.history.park(toInput(event), reason, attempts);
    } catch (error) {
      this.logger.warn({ err: error, jobId: event.data?.jobId }, 'could not park a rejected event; requeued');
      return false;
    }
    this.parkedTotal.inc();
    this.logger.error(
      { jobId: event.data?.jobId, seq: event.data?.seq, event: event.type, attempts, reason },
      'event parked in parked_events after repeated write failures',
    );
    return true;
  }

  private async requeue(batch: Pending[], error: unknown): Promise<void> {
    this.logger.warn(
      { err: error, count: batch.length },
      'projection batch failed; messages go back to the queue',
    );
    await sleep(FAILED_FLUSH_BACKOFF_MS);
    for (const { resolve } of batch) resolve(Requeue);
  }

  /** Writes `events` to both stores; throws when either rejects them. */
  private async project(events: readonly JobCloudEvent[]): Promise<void> {
    // One object per event feeds both stores.
    const inputs: JobEventInput[] = events.map(toInput);
    // Only the events whose producers did not write their history (no query when there are none).
    const history = inputs.filter((input) => !historyWrittenByProducer(input.event));
    // Both writes end before a failure is handled, so a retry never overlaps the first attempt.
    const written = await Promise.allSettled([
      this.live.applyEvents(inputs),
      this.history.projectEvents(history),
    ]);
    for (const outcome of written) if (outcome.status === 'rejected') throw outcome.reason;
    const newest = events[events.length - 1];
    this.lagMs = Math.max(0, Date.now() - new Date(newest.time).getTime());
    for (const event of events) this.logTerminal(event);
  }
}

function toInput(event: JobCloudEvent): JobEventInput {
  return {
    event: jobEventName(event),
    data: event.data,
    time: event.time,
    correlationId: event.correlationid,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Redis replies that say the server is busy or away, not that the command's data is bad. */
const TRANSIENT_REDIS_REPLY =
  /^(OOM|LOADING|BUSY|MASTERDOWN|READONLY|CLUSTERDOWN|TRYAGAIN|NOSCRIPT|MISCONF)\b/;

/**
 * Whether `error` rejects the data written rather than reports a store that is unavailable:
 * PostgreSQL refusing an event's data (DataRejected, e.g. U+0000 in text); a Redis error reply
 * about the command; a TypeError or RangeError thrown while encoding an event. Only those lead to
 * parking; anything else (connection lost, server shutting down, timeouts) requeues the batch as
 * before.
 */
export function isPoisonError(error: unknown): boolean {
  if (error instanceof TypeError || error instanceof RangeError || error instanceof DataRejected) return true;
  const e = error as { name?: unknown; message?: unknown } | null;
  return e?.name === 'ReplyError' && typeof e.message === 'string' && !TRANSIENT_REDIS_REPLY.test(e.message);
}
