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
        jobEventFromRow(SERVICE, 'started', this.job, { seq, ...this.last }, this.job.started_at),
      );
  }

  progress(progress: number, step: string | null, message: string | null): void {
    Object.assign(this.last, { progress, step: step ?? this.last.step, message });
    const seq = this.take();
    // A handler reporting more often than the block allows keeps running; its extra reports are dropped.
    if (seq !== undefined)
      this.publish('progress', jobEventFromRow(SERVICE, 'progress', this.job, { seq, ...this.last }));
  }

  /** After the attempt ended in the database; `row` is the updated row. */
  finished(event: JobEventName, row: JobEventSource): void {
    this.publish(event, jobEventFromRow(SERVICE, event, row));
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
