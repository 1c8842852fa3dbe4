import type { JobCloudEvent, JobEventName } from '@switchyard/contracts';
import type { AmqpClient } from '@switchyard/messaging';
import type { Logger } from '@switchyard/observability';
import { jobEventFromRow, SEQ_BLOCK, type JobEventSource } from '@switchyard/persistence';

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
    private readonly logger: Logger,
    private readonly job: JobEventSource,
  ) {
    this.lastSeq = Number(job.event_seq);
    this.nextSeq = this.lastSeq - SEQ_BLOCK + 1;
  }

  started(): void {
    const seq = this.take();
    if (seq !== undefined)
      this.publish('started', jobEventFromRow(SERVICE, 'started', this.job, { seq, ...this.last }));
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
    // Events feed live progress and metrics; the job's state is already durable in PostgreSQL,
    // so a lost event is logged rather than failing the job.
    this.amqp.publish(cloudEvent.type, cloudEvent).catch((error: unknown) => {
      this.logger.warn({ err: error, event, seq: cloudEvent.data.seq }, 'could not publish job event');
    });
  }
}
