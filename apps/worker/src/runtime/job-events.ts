import { createJobEvent, type JobError, type JobEventName } from '@switchyard/contracts';
import type { AmqpClient } from '@switchyard/messaging';
import type { Logger } from '@switchyard/observability';
import { SEQ_BLOCK, type JobRow } from '@switchyard/persistence';

const SERVICE = 'worker';

/**
 * Emits one attempt's lifecycle events. `started` and `progress` take numbers from the block the
 * claim reserved; status changes after the attempt carry the seq the database handed out.
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
    private readonly job: JobRow,
  ) {
    this.lastSeq = Number(job.event_seq);
    this.nextSeq = this.lastSeq - SEQ_BLOCK + 1;
  }

  started(): void {
    this.emit('started', this.take(), { status: 'running', step: null, progress: 0, message: null });
  }

  progress(progress: number, step: string | null, message: string | null): void {
    Object.assign(this.last, { progress, step: step ?? this.last.step, message });
    const seq = this.take();
    // A handler reporting more often than the block allows keeps running; its extra reports are dropped.
    if (seq === undefined) return;
    this.emit('progress', seq, { status: 'running', ...this.last });
  }

  /** After the attempt ended in the database; `row` is the updated row. */
  finished(event: JobEventName, row: JobRow, extra: { error?: JobError; resultUrl?: string } = {}): void {
    this.emit(
      event,
      Number(row.event_seq),
      { status: row.status, step: row.step, progress: row.progress, message: row.message },
      extra,
      row,
    );
  }

  private take(): number | undefined {
    return this.nextSeq < this.lastSeq ? this.nextSeq++ : undefined;
  }

  private emit(
    event: JobEventName,
    seq: number | undefined,
    state: { status: JobRow['status']; step: string | null; progress: number; message: string | null },
    extra: { error?: JobError; resultUrl?: string } = {},
    row: JobRow = this.job,
  ): void {
    if (seq === undefined) return;
    const cloudEvent = createJobEvent(
      SERVICE,
      event,
      {
        jobId: row.id,
        tenant: row.tenant,
        type: row.type,
        queue: row.queue,
        ...state,
        attempt: row.attempts,
        seq,
        ...extra,
        createdAt: row.created_at.toISOString(),
        ...(row.started_at ? { startedAt: row.started_at.toISOString() } : {}),
        ...(row.finished_at ? { finishedAt: row.finished_at.toISOString() } : {}),
      },
      row.correlation_id,
    );
    // Events feed live progress and metrics; the job's state is already durable in PostgreSQL,
    // so a lost event is logged rather than failing the job.
    this.amqp.publishEvent(cloudEvent).catch((error: unknown) => {
      this.logger.warn({ err: error, event, seq }, 'could not publish job event');
    });
  }
}
