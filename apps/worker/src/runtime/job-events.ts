import type { JobCloudEvent, JobEventName } from '@switchyard/contracts';
import type { AmqpClient } from '@switchyard/messaging';
import type { Logger } from '@switchyard/observability';
import {
  eventOutboxMessage,
  jobEventFromRow,
  SEQ_BLOCK,
  type JobEventSource,
  type JobsRepository,
} from '@switchyard/persistence';

const SERVICE = 'worker';

/**
 * Emits one attempt's lifecycle events. `started` and `progress` take numbers from the block the
 * claim reserved; the status change that ends the attempt carries the seq the database handed out.
 */
export class AttemptEvents {
  private nextSeq: number;
  private readonly lastSeq: number;
  /** What the handler last reported; the attempt's final state carries it. */
  readonly last: { step: string | null; progress: number; message: string | null } = {
    step: null,
    progress: 0,
    message: null,
  };

  /** The attempt's times as ISO strings, each formatted once: its events carry the same few. */
  private readonly iso = isoTimes();

  constructor(
    private readonly amqp: AmqpClient,
    private readonly jobs: Pick<JobsRepository, 'insertOutbox'>,
    private readonly logger: Logger,
    private readonly job: JobEventSource,
  ) {
    this.lastSeq = Number(job.event_seq);
    this.nextSeq = this.lastSeq - SEQ_BLOCK + 1;
  }

  started(): void {
    const seq = this.take();
    // The claim wrote this event's history row at the attempt's started_at: the event carries that time.
    if (seq !== undefined)
      this.publish(
        'started',
        jobEventFromRow(SERVICE, 'started', this.job, { seq, ...this.last }, this.job.started_at, this.iso),
      );
  }

  progress(progress: number, step: string | null, message: string | null): void {
    Object.assign(this.last, { progress, step: step ?? this.last.step, message });
    const seq = this.take();
    // A handler reporting more often than the block allows keeps running; its extra reports are dropped.
    if (seq !== undefined)
      this.publish(
        'progress',
        jobEventFromRow(SERVICE, 'progress', this.job, { seq, ...this.last }, undefined, this.iso),
      );
  }

  /** After the attempt ended in the database; `row` is the updated row. */
  finished(event: JobEventName, row: JobEventSource): void {
    this.publish(event, jobEventFromRow(SERVICE, event, row, {}, row.event_at, this.iso));
  }

  private take(): number | undefined {
    return this.nextSeq < this.lastSeq ? this.nextSeq++ : undefined;
  }

  private publish(event: JobEventName, cloudEvent: JobCloudEvent): void {
    // Published straight to the bus (no outbox row on the hot path). A publish no broker confirmed
    // within the client's deadline (a node lost, a quorum queue without a leader for that long)
    // goes to the PostgreSQL outbox instead, which the gateways' and trackers' relays publish
    // until it is confirmed: the job's history stays whole. The job itself never waits for it.
    this.amqp.publish(cloudEvent.type, cloudEvent).catch(async (error: unknown) => {
      try {
        await this.jobs.insertOutbox([eventOutboxMessage(cloudEvent)]);
        this.logger.warn(
          { err: error, event, seq: cloudEvent.data.seq },
          'job event not confirmed by the broker; handed to the outbox relay',
        );
      } catch (outboxError) {
        this.logger.error(
          { err: error, outboxError, event, seq: cloudEvent.data.seq },
          'could not publish job event',
        );
      }
    });
  }
}

/**
 * Formats times as ISO strings, remembering the last few: an attempt's events repeat the job's
 * `createdAt` and `startedAt`, and a status change's `time` is its `finishedAt` (one `now()`).
 */
export function isoTimes(): (time: Date) => string {
  const made = new Map<number, string>();
  return (time) => {
    const ms = time.getTime();
    let text = made.get(ms);
    if (text === undefined) {
      text = time.toISOString();
      made.set(ms, text);
    }
    return text;
  };
}
