import {
  DeadLetter,
  Requeue,
  Ack,
  type AmqpClient,
  type ConsumeOutcome,
  type ConsumerHandle,
  type InboundMessage,
} from '@switchyard/messaging';
import { isJobCloudEvent, isTerminal, jobEventName, type JobCloudEvent } from '@switchyard/contracts';
import type { JobEventInput, LiveProgressStore } from '@switchyard/live-state';
import type { Logger } from '@switchyard/observability';
import type { ProjectionRepository } from '@switchyard/persistence';

export interface ProjectorOptions {
  queue: string;
  batchSize: number;
  flushMs: number;
}

interface Pending {
  event: JobCloudEvent;
  resolve: (outcome: ConsumeOutcome) => void;
}

const FAILED_FLUSH_BACKOFF_MS = 1000;

/**
 * Projects lifecycle events into live progress (Redis) and history (PostgreSQL). Events are
 * buffered and written in batches; each message is acked only after its batch is durable, and
 * stale or repeated events (by seq) change nothing in either store.
 */
export class EventProjector {
  private buffer: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private consumer: ConsumerHandle | undefined;
  private lagMs = 0;

  constructor(
    private readonly options: ProjectorOptions,
    private readonly amqp: AmqpClient,
    private readonly live: LiveProgressStore,
    private readonly history: ProjectionRepository,
    private readonly logger: Logger,
  ) {}

  /** Milliseconds between an event's time and its projection, for the tracker's lag metric. */
  lag(): number {
    return this.lagMs;
  }

  async start(): Promise<void> {
    await this.amqp.assertQueue(this.options.queue, {
      durable: true,
      bindings: [{ exchange: this.amqp.names.eventsExchange, pattern: 'job.#' }],
    });
    this.consumer = await this.amqp.consume(this.options.queue, (m) => this.onMessage(m), {
      prefetch: this.options.batchSize * 2,
    });
  }

  async stop(): Promise<void> {
    await this.consumer?.cancel();
    await this.flushNow();
  }

  private onMessage(message: InboundMessage): Promise<ConsumeOutcome> {
    if (!isJobCloudEvent(message.content)) {
      this.logger.warn(
        { messageId: message.properties.messageId as unknown },
        'not a job CloudEvent; dead-lettered',
      );
      return Promise.resolve(DeadLetter('not a job CloudEvent'));
    }
    const event = message.content;
    return new Promise((resolve) => {
      this.buffer.push({ event, resolve });
      if (this.buffer.length >= this.options.batchSize) void this.flushNow();
      else this.timer ??= setTimeout(() => void this.flushNow(), this.options.flushMs);
    });
  }

  private flushNow(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.buffer;
    this.buffer = [];
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
      // One object per event feeds both stores.
      const inputs: JobEventInput[] = batch.map(({ event }) => ({
        event: jobEventName(event),
        data: event.data,
        time: event.time,
        correlationId: event.correlationid,
      }));
      await Promise.all([this.live.applyEvents(inputs), this.history.projectEvents(inputs)]);
      const newest = batch[batch.length - 1].event;
      this.lagMs = Math.max(0, Date.now() - new Date(newest.time).getTime());
      for (const { event } of batch) this.logTerminal(event);
      for (const { resolve } of batch) resolve(Ack);
    } catch (error) {
      this.logger.warn(
        { err: error, count: batch.length },
        'projection batch failed; messages go back to the queue',
      );
      await new Promise((r) => setTimeout(r, FAILED_FLUSH_BACKOFF_MS));
      for (const { resolve } of batch) resolve(Requeue);
    }
  }
}
