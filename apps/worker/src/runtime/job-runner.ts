import {
  Ack,
  DeadLetter,
  Requeue,
  type AmqpClient,
  type ConsumeOutcome,
  type ConsumerHandle,
  type InboundMessage,
} from '@switchyard/messaging';
import type { JobDispatch, JobError } from '@switchyard/contracts';
import {
  PermanentError,
  RetryableError,
  type AnyJobHandler,
  type ArtifactStore,
  type HandlerOutput,
  type HandlerRegistry,
  type JobContext,
} from '@switchyard/handlers';
import { correlation, type Logger } from '@switchyard/observability';
import type { JobRow, JobsRepository } from '@switchyard/persistence';
import { AttemptEvents } from './job-events';

export interface JobRunnerOptions {
  workerId: string;
  queues: string[];
  concurrency: number;
  leaseMs: number;
  shutdownGraceMs: number;
}

interface RunningJob {
  row: JobRow;
  abort: AbortController;
  done: Promise<unknown>;
}

class AbortReason extends Error {
  constructor(
    readonly code: 'timeout' | 'lease_lost' | 'shutdown',
    message: string,
  ) {
    super(message);
  }
}

function parseDispatch(content: unknown): JobDispatch | undefined {
  if (!content || typeof content !== 'object') return undefined;
  const d = content as Partial<JobDispatch>;
  return typeof d.jobId === 'string' && typeof d.type === 'string' ? (d as JobDispatch) : undefined;
}

/**
 * Consumes the work queues and runs one attempt per delivery: claim (a conditional update, so a
 * job never runs twice at once), run the handler with an AbortSignal, record the outcome, and
 * only then ack.
 */
export class JobRunner {
  private readonly running = new Map<string, RunningJob>();
  private consumers: ConsumerHandle[] = [];
  private leaseTimer: NodeJS.Timeout | undefined;
  private stopping = false;

  constructor(
    private readonly options: JobRunnerOptions,
    private readonly amqp: AmqpClient,
    private readonly jobs: JobsRepository,
    private readonly registry: HandlerRegistry,
    private readonly artifacts: ArtifactStore,
    private readonly logger: Logger,
  ) {}

  activeCount(): number {
    return this.running.size;
  }

  async start(): Promise<void> {
    for (const queue of this.options.queues) {
      this.consumers.push(
        await this.amqp.consume(this.amqp.names.workQueue(queue), (m) => this.onDelivery(m), {
          prefetch: this.options.concurrency,
        }),
      );
    }
    this.leaseTimer = setInterval(
      () => void this.renewLeases(),
      Math.max(500, Math.floor(this.options.leaseMs / 3)),
    );
    this.logger.info(
      { queues: this.options.queues, concurrency: this.options.concurrency },
      'worker consuming',
    );
  }

  /** Stops taking work, lets running jobs finish within the grace period, then hands the rest back. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.consumers.map((c) => c.cancel()));
    const deadline = new Promise((resolve) => setTimeout(resolve, this.options.shutdownGraceMs).unref());
    await Promise.race([Promise.allSettled([...this.running.values()].map((r) => r.done)), deadline]);
    for (const job of this.running.values()) {
      job.abort.abort(new AbortReason('shutdown', 'worker shutting down'));
    }
    await Promise.allSettled([...this.running.values()].map((r) => r.done));
    clearInterval(this.leaseTimer);
  }

  private async onDelivery(message: InboundMessage): Promise<ConsumeOutcome> {
    const dispatch = parseDispatch(message.content);
    if (!dispatch) return DeadLetter('not a job dispatch message');
    if (this.stopping) return Requeue;
    const row = await this.jobs.claim(dispatch.jobId, this.options.workerId, this.options.leaseMs);
    if (!row) {
      // Already running elsewhere, finished, cancelled, or unknown: this delivery is a duplicate.
      this.logger.debug({ jobId: dispatch.jobId }, 'delivery not claimable; dropped');
      return Ack;
    }
    const context = { correlationId: row.correlation_id, jobId: row.id, tenant: row.tenant, type: row.type };
    return correlation.run(context, () => this.runAttempt(row));
  }

  private async runAttempt(row: JobRow): Promise<ConsumeOutcome> {
    const started = Date.now();
    const events = new AttemptEvents(this.amqp, this.logger, row);
    const abort = new AbortController();
    let settle!: (value: unknown) => void;
    const done = new Promise((resolve) => (settle = resolve));
    this.running.set(row.id, { row, abort, done });
    events.started();
    this.logger.info({ attempt: row.attempts }, 'job started');
    const timer = setTimeout(
      () => abort.abort(new AbortReason('timeout', `job exceeded its timeout of ${row.timeout_ms} ms`)),
      row.timeout_ms,
    );
    try {
      const handler = this.registry.get(row.type);
      if (!handler)
        throw new PermanentError(`no handler for job type "${row.type}" on this worker`, 'unknown_job_type');
      const output = await this.invoke(handler, row, abort.signal, events);
      return await this.complete(row, output, events, started);
    } catch (error) {
      const reason: unknown = abort.signal.aborted ? abort.signal.reason : error;
      if (reason instanceof AbortReason && reason.code === 'shutdown') return this.handBack(row);
      return await this.fail(row, toJobError(reason), events, started);
    } finally {
      clearTimeout(timer);
      this.running.delete(row.id);
      settle(undefined);
    }
  }

  private invoke(
    handler: AnyJobHandler,
    row: JobRow,
    signal: AbortSignal,
    events: AttemptEvents,
  ): Promise<HandlerOutput> {
    const ctx: JobContext<Record<string, unknown>> = {
      jobId: row.id,
      tenant: row.tenant,
      attempt: row.attempts,
      maxAttempts: row.max_attempts,
      payload: row.payload,
      signal,
      progress: (percent, step, message) => {
        const clamped = Math.min(100, Math.max(0, Number.isFinite(percent) ? percent : 0));
        events.progress(Math.round(clamped * 100) / 100, step ?? null, message ?? null);
      },
      logger: this.logger,
      artifacts: this.artifacts.writerFor(row.id),
    };
    return (handler as unknown as { handle(c: typeof ctx): Promise<HandlerOutput> }).handle(ctx);
  }

  private async complete(row: JobRow, output: HandlerOutput, events: AttemptEvents, started: number) {
    const resultUrl = output.artifact ? `/api/v1/jobs/${row.id}/result` : null;
    const updated = await this.jobs.finish(
      row.id,
      this.options.workerId,
      {
        status: 'completed',
        result: output.result,
        resultUrl,
      },
      events.last,
    );
    if (!updated) {
      this.logger.warn('job was taken from this worker before it completed; result discarded');
      return Ack;
    }
    events.finished('completed', updated, resultUrl ? { resultUrl } : {});
    this.logger.info({ durationMs: Date.now() - started }, 'job completed');
    return Ack;
  }

  private async fail(row: JobRow, error: JobError, events: AttemptEvents, started: number) {
    const updated = await this.jobs.finish(
      row.id,
      this.options.workerId,
      { status: 'failed', error, deadLettered: true },
      events.last,
    );
    if (!updated) return Ack;
    events.finished('failed', updated, { error });
    this.logger.warn({ durationMs: Date.now() - started, code: error.code }, `job failed: ${error.message}`);
    return Ack;
  }

  private async handBack(row: JobRow): Promise<ConsumeOutcome> {
    const returned = await this.jobs.handBack(row.id, this.options.workerId);
    this.logger.info({ returned }, 'job handed back on shutdown');
    return Requeue;
  }

  private async renewLeases(): Promise<void> {
    const ids = [...this.running.keys()];
    if (!ids.length) return;
    try {
      const held = new Set(await this.jobs.renewLeases(this.options.workerId, ids, this.options.leaseMs));
      for (const id of ids) {
        if (!held.has(id)) {
          this.running.get(id)?.abort.abort(new AbortReason('lease_lost', 'lease lost to another worker'));
        }
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'lease renewal failed');
    }
  }
}

export function toJobError(error: unknown): JobError {
  if (error instanceof AbortReason) {
    return {
      code: error.code === 'timeout' ? 'timeout' : 'worker_lost',
      message: error.message,
      retryable: true,
    };
  }
  if (error instanceof RetryableError) return { code: error.code, message: error.message, retryable: true };
  if (error instanceof PermanentError) return { code: error.code, message: error.message, retryable: false };
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'handler_error', message, retryable: true };
}
