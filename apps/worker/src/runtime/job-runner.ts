import { setTimeout as sleep } from 'node:timers/promises';
import {
  Ack,
  DeadLetter,
  Requeue,
  type AmqpClient,
  type ConsumeOutcome,
  type ConsumerHandle,
  type InboundMessage,
} from '@switchyard/messaging';
import {
  JOB_CANCEL,
  JOB_DISPATCH,
  dispatchedJobs,
  jobDispatch,
  type CancelCommand,
  type DispatchedJob,
  type JobDispatch,
  type JobError,
} from '@switchyard/contracts';
import {
  DeferredError,
  PermanentError,
  RateLimitedError,
  RetryableError,
  type AnyJobHandler,
  type DependencyResult,
  type HandlerOutput,
  type HandlerRegistry,
  type JobContext,
} from '@switchyard/handler-sdk';
import type { ArtifactStore } from '@switchyard/storage';
import {
  SPAN_ATTRIBUTES,
  activeTraceId,
  contextFrom,
  contextOf,
  correlation,
  currentCarrier,
  endSpan,
  spanContextOf,
  startSpan,
  traced,
  traceIdOf,
  tracingEnabled,
  withSpan,
  type Logger,
  type Span,
} from '@switchyard/observability';
import {
  FlowCancelled,
  type ClaimedJob,
  type CompletedOutcome,
  type FlowsRepository,
  type JobEventSource,
  type JobsRepository,
  type LifecycleRepository,
  type OutboxRecord,
} from '@switchyard/persistence';
import { backoffDelay, isDependencyUnavailable, unavailableDependency } from '@switchyard/resilience';
import { abandonAfterAbort, AbortReason, AttemptAbort } from './abort';
import { AttemptEvents } from './job-events';
import { GroupCommit } from './group-commit';
import { WorkerTurn } from './worker-turn';
import { boundInlineResult, cleanText, PROGRESS_MESSAGE_MAX, PROGRESS_STEP_MAX } from './output-bounds';
import type { SpawnBuilder } from './spawn.builder';

/** What flow jobs need beyond the main path: their dependencies, spawns and the outbox of both. */
export interface FlowSupport {
  flows: FlowsRepository;
  spawns: SpawnBuilder;
  /** Publishes committed outbox rows (events of dependants and spawned jobs); the relay repairs failures. */
  publish(records: OutboxRecord[]): Promise<void>;
}
import type { AttemptLog, JobLogWriter } from './job-logs';
import { AttemptUsage, CpuMeter, type UsageLedger } from './usage-ledger';

export interface JobRunnerOptions {
  workerId: string;
  queues: string[];
  concurrency: number;
  leaseMs: number;
  shutdownGraceMs: number;
  cancelGraceMs: number;
  /** RESULT_INLINE_MAX_BYTES: a larger inline result is stored as the job's artifact. */
  resultInlineMaxBytes: number;
  /** Counts a running attempt (the active-jobs gauge); returns the release. */
  trackActive?: (type: string) => () => void;
}

/** Where attempts' `ctx.log` lines and usage go. */
export interface AttemptRecorders {
  logs: JobLogWriter;
  usage: UsageLedger;
}

/** What one attempt records besides its outcome. */
interface AttemptRecord {
  log: AttemptLog;
  usage: AttemptUsage;
  /** The handler's span (tracing on). */
  span?: Span;
  /** Usage and lines were handed on (once per attempt, whichever way it ends). */
  ended?: boolean;
}

interface RunningJob {
  row: ClaimedJob;
  abort: AttemptAbort;
  done: Promise<unknown>;
}

/** A delayed retry that comes back this close to its time runs now rather than hopping again. */
const EARLY_TOLERANCE_MS = 25;

/** A delivery whose claim met a dependency outage is held this long at most before it is requeued. */
const CLAIM_HOLD_MAX_MS = 5000;
const CLAIM_HOLD_BACKOFF = { initialMs: 250, factor: 2, maxMs: CLAIM_HOLD_MAX_MS, jitter: 0.2 };

/**
 * How long the worker's turn waits, at most, for the deliveries that the slots it freed will bring,
 * so that their claims ride in one statement with the completions (docs/architecture.md).
 */
const TURN_HOLD_MS = 2;

/**
 * Most claims (or completions) one statement carries; a burst is at most prefetch × queues. A turn
 * carries at most twice as many items, claims and completions together.
 */
const MAX_BATCH = 100;

/**
 * Consumes the work queues and runs one attempt per delivery: claim (a conditional update, so a
 * job never runs twice at once), run the handler with an AbortSignal, record the outcome
 * (completed, retrying with a delayed message, failed to the DLQ, cancelled, or handed back),
 * and only then ack.
 */
export class JobRunner {
  private readonly running = new Map<string, RunningJob>();
  private consumers: ConsumerHandle[] = [];
  private leaseTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  /** Claims that failed in a row because a dependency was down: the hold before requeueing grows. */
  private claimFailures = 0;
  /** Wakes deliveries held after a failed claim when the worker stops. */
  private readonly stopped = new AbortController();
  /** Handlers get this long to stop once their signal fires; then they are abandoned. */
  private readonly abandonGraceMs: number;
  /**
   * The worker's turn: the completions and the claims of the same event-loop turn (or submitted
   * while the previous statement was in flight) go out as one statement, one commit.
   */
  private readonly turn: WorkerTurn<CompletedOutcome, JobEventSource | null, string, ClaimedJob | null>;
  /**
   * Completions of flow jobs, which settle their dependants in the same transaction (statements
   * that read the completed rows), so they stay out of the turn's single statement.
   */
  private readonly flowCompletions: GroupCommit<CompletedOutcome, JobEventSource | null>;
  private readonly cpu = new CpuMeter();
  /** Attempts whose slot was freed (delivery acked) while their completion commits. */
  private completing = 0;
  /**
   * Claims the slots freed early are expected to bring, from new deliveries or from jobs of a
   * batched message waiting for a slot (the turn waits for them).
   */
  private awaitingDeliveries = 0;
  /** The attempts' slots: at most `concurrency` jobs claimed and running at once. */
  private readonly slots: Slots;

  constructor(
    private readonly options: JobRunnerOptions,
    private readonly amqp: AmqpClient,
    private readonly jobs: JobsRepository,
    private readonly lifecycle: LifecycleRepository,
    private readonly registry: HandlerRegistry,
    private readonly artifacts: ArtifactStore,
    private readonly logger: Logger,
    private readonly flow: FlowSupport,
    private readonly recorders: AttemptRecorders,
  ) {
    this.abandonGraceMs = Math.floor(options.cancelGraceMs / 2);
    this.slots = new Slots(options.concurrency);
    this.turn = new WorkerTurn(
      (outcomes, ids) => this.jobs.completeAndClaim(options.workerId, options.leaseMs, outcomes, ids),
      2 * MAX_BATCH,
      {
        while: () => this.awaitingDeliveries > 0 && !this.stopping,
        ms: TURN_HOLD_MS,
        // Not coming (the queue is empty, or the broker is slow): stop waiting for them.
        expired: () => (this.awaitingDeliveries = 0),
      },
    );
    this.flowCompletions = new GroupCommit(async (outcomes) => {
      const { rows, outbox } = await this.jobs.completeFlowMany(options.workerId, outcomes);
      await this.flow.publish(outbox);
      return rows;
    }, MAX_BATCH);
  }

  activeCount(): number {
    return this.running.size;
  }

  activeByType(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const { row } of this.running.values()) counts.set(row.type, (counts.get(row.type) ?? 0) + 1);
    return counts;
  }

  async start(): Promise<void> {
    // Cancel commands reach every worker through the control fanout; each has its own queue.
    const controlQueue = this.amqp.names.controlQueue(this.options.workerId);
    await this.amqp.assertQueue(controlQueue, {
      exclusive: true,
      autoDelete: true,
      bindings: [{ exchange: this.amqp.names.controlExchange, pattern: '' }],
    });
    this.consumers.push(
      // A control message for no job of this worker, or none at all, has nothing to do here.
      await this.amqp.consume(controlQueue, [JOB_CANCEL], (c) => this.onControl(c), {
        prefetch: 100,
        onInvalid: () => Ack,
      }),
    );
    for (const queue of this.options.queues) {
      this.consumers.push(
        await this.amqp.consume(
          this.amqp.names.workQueue(queue),
          [JOB_DISPATCH],
          (d, m) => this.onDelivery(d, m),
          {
            prefetch: this.options.concurrency,
            onInvalid: () => DeadLetter('not a job dispatch message'),
          },
        ),
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
    this.stopped.abort();
    // Jobs of batched messages still waiting for a slot: their messages are requeued.
    this.slots.drain();
    await Promise.all(this.consumers.map((c) => c.cancel()));
    const inFlight = () => Promise.allSettled([...this.running.values()].map((r) => r.done));
    let graceTimer: NodeJS.Timeout | undefined;
    const grace = new Promise((resolve) => (graceTimer = setTimeout(resolve, this.options.shutdownGraceMs)));
    await Promise.race([inFlight(), grace]);
    clearTimeout(graceTimer);
    for (const job of this.running.values()) {
      job.abort.abort(new AbortReason('shutdown', 'worker shutting down'));
    }
    await inFlight();
    clearInterval(this.leaseTimer);
    await Promise.all([this.recorders.logs.flush(), this.recorders.usage.flush()]);
  }

  private onControl(command: CancelCommand): Promise<ConsumeOutcome> {
    const job = this.running.get(command.jobId);
    if (job && !job.abort.aborted) {
      correlation.run({ correlationId: job.row.correlation_id, jobId: job.row.id }, () =>
        this.logger.info('cancel requested; aborting the handler'),
      );
      job.abort.abort(new AbortReason('cancelled', 'cancelled on request'));
    }
    return Promise.resolve(Ack);
  }

  private async onDelivery(dispatch: JobDispatch, message: InboundMessage): Promise<ConsumeOutcome> {
    if (this.stopping) return Requeue;
    if (dispatch.notBefore !== undefined && dispatch.notBefore - Date.now() > EARLY_TOLERANCE_MS) {
      // Back from a delay tier shorter than the backoff: wait the remainder in another tier.
      await this.amqp.publish(JOB_DISPATCH, dispatch, {
        delayMs: dispatch.notBefore - Date.now(),
        priority: Number(message.properties.priority ?? 0),
        correlationId: String(message.properties.correlationId ?? ''),
        messageId: dispatch.jobId,
        // Each hop keeps the delivery's trace parent (a hop is not a step of the job's path).
        ...(typeof message.headers['traceparent'] === 'string'
          ? { headers: traceHeadersOf(message.headers) }
          : {}),
      });
      return Ack;
    }
    const jobs = dispatchedJobs(dispatch);
    if (jobs.length === 1) return this.runJob(dispatch.jobId, message);
    return this.runBatch(jobs, dispatch.queue, message);
  }

  /**
   * A work message of several jobs (batched dispatch, docs/architecture.md): each job takes a slot
   * of its own, is claimed, run and settled on its own, as if it had come alone. The message is
   * settled once every job's part is, and only then: acked when each job would have acked its own
   * delivery (its handler ended, or its outcome committed); requeued when any job must be tried
   * again (a failed claim, a shutdown before it started) — on redelivery the claim skips the jobs
   * that ran. A job that failed for good is dead-lettered in PostgreSQL as always, and its own
   * single-job copy goes to the dead-letter exchange (the message carries other jobs).
   */
  private async runBatch(jobs: readonly DispatchedJob[], queue: string, message: InboundMessage) {
    const settled = await Promise.allSettled(jobs.map((job) => this.runJob(job.jobId, message)));
    let requeue = false;
    const deadLettered: { job: DispatchedJob; reason: string }[] = [];
    settled.forEach((result, i) => {
      const job = jobs[i];
      if (!job || result.status === 'rejected') return;
      if (result.value.kind === 'requeue') requeue = true;
      else if (result.value.kind === 'dead-letter') deadLettered.push({ job, reason: result.value.reason });
    });
    await Promise.all(
      deadLettered.map(({ job, reason }) => this.deadLetterCopy(job, queue, reason, message)),
    );
    // A job whose path threw: the message is handled as a single job's would be (tried once more,
    // then dead-lettered on redelivery); the jobs that ran are skipped by their claims.
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return requeue ? Requeue : Ack;
  }

  /** The dead-letter queue's copy of one job of a batched message (GET /dlq reads PostgreSQL). */
  private async deadLetterCopy(
    job: DispatchedJob,
    queue: string,
    reason: string,
    message: InboundMessage,
  ): Promise<void> {
    try {
      await this.amqp.publishRaw(
        this.amqp.names.deadLetterExchange,
        this.amqp.names.workQueue(queue),
        jobDispatch({ id: job.jobId, tenant: job.tenant, type: job.type, queue }),
        {
          type: JOB_DISPATCH,
          messageId: job.jobId,
          priority: Number(message.properties.priority ?? 0),
          correlationId: String(message.properties.correlationId ?? ''),
          headers: { 'x-switchyard-dead-letter-reason': reason },
        },
      );
    } catch (error) {
      // The job row is the record of the dead-lettered job; the queue's copy is for inspection.
      this.logger.warn({ err: error, jobId: job.jobId }, 'could not copy a dead-lettered job to the DLQ');
    }
  }

  /**
   * One job of a delivery: waits for a free slot (at most `concurrency` attempts run at once, however
   * many jobs the deliveries carry), claims it and runs its attempt; the slot frees when the
   * delivery of a lone job would be settled (runAttempt).
   */
  private async runJob(jobId: string, message: InboundMessage): Promise<ConsumeOutcome> {
    await this.slots.acquire(Number(message.properties.priority ?? 0));
    let row: ClaimedJob | null;
    try {
      if (this.stopping) {
        this.slots.release();
        return Requeue;
      }
      // The claim the turn was waiting for (a freed slot's next job) is on its way.
      if (this.awaitingDeliveries > 0) this.awaitingDeliveries--;
      row = tracingEnabled()
        ? await traced('job.claim', { attributes: { [SPAN_ATTRIBUTES.jobId]: jobId } }, () =>
            this.turn.claim(jobId),
          )
        : await this.turn.claim(jobId);
      this.claimFailures = 0;
    } catch (error) {
      try {
        return await this.afterClaimFailure(jobId, error);
      } finally {
        this.slots.release();
      }
    }
    if (!row) {
      this.slots.release();
      // Already running elsewhere, finished, cancelled, or unknown: this delivery is a duplicate.
      if (this.logger.isLevelEnabled('debug'))
        this.logger.debug({ jobId }, 'delivery not claimable; dropped');
      return Ack;
    }
    const claimed = row;
    const context = {
      correlationId: claimed.correlation_id,
      jobId: claimed.id,
      tenant: claimed.tenant,
      type: claimed.type,
    };
    const slot = correlation.run(context, () => this.runAttempt(claimed));
    // The slot frees when the job's part of the delivery is settled (see runAttempt).
    void slot.then(
      () => this.slots.release(),
      () => this.slots.release(),
    );
    return slot;
  }

  /**
   * The claim failed, so the job is still `queued`/`retrying` in PostgreSQL and this delivery is
   * its live message: never dead-letter it. Hold it for a backoff that grows while the outage lasts
   * (holding also stops this consumer from pulling more deliveries it cannot claim), then hand it
   * back to the queue to be tried again.
   */
  private async afterClaimFailure(jobId: string, error: unknown): Promise<ConsumeOutcome> {
    this.claimFailures++;
    const holdMs = backoffDelay(this.claimFailures, CLAIM_HOLD_BACKOFF);
    const dependency = unavailableDependency(error);
    this.logger.warn(
      { err: error, jobId, holdMs, dependency: dependency ?? 'none', failures: this.claimFailures },
      dependency
        ? 'claim failed: a dependency is unavailable; the delivery waits and is requeued'
        : 'claim failed; the delivery waits and is requeued',
    );
    // Stopping ends the hold at once (the delivery is requeued for another worker).
    await sleep(holdMs, undefined, { signal: this.stopped.signal }).catch(() => undefined);
    return Requeue;
  }

  /**
   * Runs the attempt and settles its delivery. A completed attempt frees its slot (its delivery is
   * acked) as soon as its handler has ended and its completion is submitted, not once the
   * completion has committed: the next delivery's claim then rides in the turn's statement with the
   * completion (docs/architecture.md, "The worker's turn"). The job row stays `running` under this
   * worker's lease until the completion commits, so a crash in between is recovered by the lease,
   * never run twice at once. At most `concurrency` attempts wait for their completion with their
   * slot freed; beyond that a slot waits for the commit, as every other outcome does.
   */
  private runAttempt(row: ClaimedJob): Promise<ConsumeOutcome> {
    let freed = false;
    let settle!: { resolve: (outcome: ConsumeOutcome) => void; reject: (error: unknown) => void };
    const slot = new Promise<ConsumeOutcome>((resolve, reject) => (settle = { resolve, reject }));
    const attempt = this.attempt(row, () => {
      if (this.completing >= this.options.concurrency) return;
      freed = true;
      this.completing++;
      this.awaitingDeliveries++;
      settle.resolve(Ack);
    });
    void attempt.then(
      (outcome) => {
        if (!freed) return settle.resolve(outcome);
        this.completing--;
        if (outcome.kind !== 'ack')
          this.logger.warn(
            { outcome: outcome.kind },
            'the completion failed after the delivery was acked; the job row holds the outcome',
          );
      },
      (error: unknown) => {
        if (!freed) return settle.reject(error);
        this.completing--;
        this.logger.error({ err: error }, 'the completion failed after the delivery was acked');
      },
    );
    return slot;
  }

  private async attempt(row: ClaimedJob, freeSlot: () => void): Promise<ConsumeOutcome> {
    const started = Date.now();
    const cpuMark = this.cpu.start();
    const record: AttemptRecord = {
      log: this.recorders.logs.attempt(row.id, row.attempts),
      usage: new AttemptUsage(this.logger),
      span: tracingEnabled() ? this.handlerSpan(row) : undefined,
    };
    const events = new AttemptEvents(this.amqp, this.jobs, this.logger, row);
    const abort = new AttemptAbort();
    let settle!: (value: unknown) => void;
    const done = new Promise((resolve) => (settle = resolve));
    this.running.set(row.id, { row, abort, done });
    const release = this.options.trackActive?.(row.type);
    events.started();
    if (this.logger.isLevelEnabled('info'))
      this.logger.info({ attempt: row.attempts, waitMs: started - row.created_at.getTime() }, 'job started');
    const timer = setTimeout(
      () => abort.abort(new AbortReason('timeout', `job exceeded its timeout of ${row.timeout_ms} ms`)),
      row.timeout_ms,
    );
    const handler = this.registry.get(row.type);
    try {
      if (!handler)
        throw new PermanentError(`no handler for job type "${row.type}" on this worker`, 'unknown_job_type');
      const output = await abandonAfterAbort(
        withSpan(record.span, () => this.invoke(handler, row, abort, events, record)),
        abort,
        this.abandonGraceMs,
      );
      if (abort.reason) throw abort.reason;
      endSpan(record.span);
      const written = this.endRecords(row, record, cpuMark, started);
      if (written) await written;
      const bounded = await boundInlineResult(
        output,
        this.options.resultInlineMaxBytes,
        this.artifacts.writerFor(row.id),
      );
      if (bounded.spilled)
        this.logger.info('inline result above RESULT_INLINE_MAX_BYTES stored as an artifact');
      return await this.outcome('job.complete', row, () =>
        this.complete(row, bounded, events, started, freeSlot),
      );
    } catch (error) {
      const reason: unknown = abort.aborted ? abort.reason : error;
      if (record.span?.isRecording()) endSpan(record.span, reason);
      const written = this.endRecords(row, record, cpuMark, started);
      if (written) await written;
      return await this.outcome('job.finish', row, () =>
        this.afterFailure(row, handler, reason, events, started, record.span),
      );
    } finally {
      clearTimeout(timer);
      this.running.delete(row.id);
      release?.();
      settle(undefined);
    }
  }

  private async afterFailure(
    row: ClaimedJob,
    handler: AnyJobHandler | undefined,
    reason: unknown,
    events: AttemptEvents,
    started: number,
    span?: Span,
  ): Promise<ConsumeOutcome> {
    if (reason instanceof AbortReason) {
      switch (reason.code) {
        case 'shutdown':
          return this.handBack(row, events);
        case 'lease_lost':
          this.logger.warn('lease lost; the attempt is abandoned and its result discarded');
          return Ack;
        case 'cancelled':
          return this.cancelled(row, events);
        case 'timeout':
          break;
      }
    }
    const error = toJobError(reason, handler?.defaults.retryTimeouts ?? false);
    if (reason instanceof RateLimitedError) return this.rateLimited(row, reason, error, events, span);
    if (reason instanceof DeferredError)
      return this.retry(row, error, reason.retryAfterMs, events, true, span);
    if (error.retryable && row.attempts < row.max_attempts) {
      const delayMs = retryAfterOf(reason) ?? backoffDelay(row.attempts);
      return this.retry(row, error, delayMs, events, false, span);
    }
    return this.fail(row, error, events, started);
  }

  private async invoke(
    handler: AnyJobHandler,
    row: ClaimedJob,
    abort: AttemptAbort,
    events: AttemptEvents,
    record: AttemptRecord,
  ): Promise<HandlerOutput> {
    let warned = false;
    const dependencies = row.flow_id ? await this.dependenciesOf(row.id) : {};
    const steps = record.span ? new StepSpans(record.span) : undefined;
    const ctx: JobContext<Record<string, unknown>> = {
      jobId: row.id,
      tenant: row.tenant,
      attempt: row.attempts,
      maxAttempts: row.max_attempts,
      payload: row.payload,
      // Made when the handler first reads it (AttemptAbort).
      get signal() {
        return abort.signal;
      },
      progress: (percent, step, message) => {
        if (abort.aborted) return;
        const clamped = Math.min(100, Math.max(0, Number.isFinite(percent) ? percent : 0));
        // Handler text goes into events, Redis and PostgreSQL: bounded and storable, or one bad
        // report could poison the event stream.
        const cleanStep = cleanText(step, PROGRESS_STEP_MAX);
        const cleanMessage = cleanText(message, PROGRESS_MESSAGE_MAX);
        if (!warned && (cleanStep.changes.length || cleanMessage.changes.length)) {
          warned = true; // once per attempt: a handler may report thousands of times
          this.logger.warn(
            { step: cleanStep.changes, message: cleanMessage.changes },
            'handler progress step or message adjusted',
          );
        }
        events.progress(Math.round(clamped * 100) / 100, cleanStep.text, cleanMessage.text);
        steps?.step(cleanStep.text);
      },
      logger: this.logger,
      log: record.log,
      usage: (units) => record.usage.add(units),
      artifacts: this.artifacts.writerFor(row.id),
      dependencies,
      dependencyFile: async (ref) => {
        const dependency = Object.prototype.hasOwnProperty.call(dependencies, ref)
          ? dependencies[ref]
          : undefined;
        const found = dependency ? await this.artifacts.locate(dependency.jobId) : null;
        if (!found) {
          throw new PermanentError(
            dependency
              ? `dependency "${ref}" has no artifact`
              : `"${ref}" is not a dependency of this job (its flow's dependsOn must name it)`,
            'invalid_payload',
          );
        }
        return found.path;
      },
      spawn: async (children, options) => {
        const built = this.flow.spawns.build(row, children, options?.continuation);
        let outcome;
        try {
          outcome = await this.durably(() =>
            this.flow.flows.spawn(row.id, built.children, built.continuation),
          );
        } catch (error) {
          if (error instanceof FlowCancelled) throw new PermanentError(error.message, 'flow_cancelled');
          throw error;
        }
        await this.flow.publish(outcome.outbox);
        if (outcome.queues.length || outcome.created) {
          this.logger.info(
            { children: outcome.children.length, continuation: outcome.continuation, flowId: outcome.flowId },
            'job spawned children',
          );
        } else {
          this.logger.info(
            { children: outcome.children.length },
            'children already spawned by an earlier run',
          );
        }
        return { flowId: outcome.flowId, children: outcome.children, continuation: outcome.continuation };
      },
    };
    // A handler that throws synchronously still yields a rejected promise.
    const run = Promise.resolve().then(() =>
      (handler as unknown as { handle(c: typeof ctx): Promise<HandlerOutput> }).handle(ctx),
    );
    if (!steps) return run;
    return run.finally(() => steps.end());
  }

  /** A flow job's dependencies by ref, with their results and artifacts. */
  private async dependenciesOf(jobId: string): Promise<Record<string, DependencyResult>> {
    const rows = await this.durably(() => this.flow.flows.dependenciesOf(jobId));
    const entries = await Promise.all(
      rows.map(async (d): Promise<[string, DependencyResult]> => {
        const ref = d.ref ?? d.id;
        const artifact = d.result_url ? ((await this.artifacts.locate(d.id))?.ref ?? null) : null;
        return [
          ref,
          {
            jobId: d.id,
            ref,
            type: d.type,
            status: d.status,
            result: d.result ?? null,
            resultUrl: d.result_url,
            artifact,
          },
        ];
      }),
    );
    return Object.fromEntries(entries);
  }

  /**
   * The handler's span: under the consumer span of the delivery when that is in the job's trace,
   * else (a delivery without trace headers, e.g. a sweeper's re-dispatch) under the job's stored
   * context; linked to the previous attempt's span when there was one.
   */
  private handlerSpan(row: ClaimedJob): Span | undefined {
    const stored = row.traceparent
      ? { traceparent: row.traceparent, tracestate: row.tracestate ?? undefined }
      : undefined;
    const inTrace = !stored || activeTraceId() === traceIdOf(stored.traceparent);
    const previous =
      row.attempts > 1
        ? spanContextOf(row.attempt_traceparent ? { traceparent: row.attempt_traceparent } : null)
        : undefined;
    return startSpan('job.handler', {
      parent: inTrace ? undefined : contextFrom(stored),
      links: previous
        ? [{ context: previous, attributes: { [SPAN_ATTRIBUTES.link]: 'previous_attempt' } }]
        : [],
      attributes: {
        [SPAN_ATTRIBUTES.jobId]: row.id,
        [SPAN_ATTRIBUTES.jobType]: row.type,
        [SPAN_ATTRIBUTES.attempt]: row.attempts,
        [SPAN_ATTRIBUTES.tenant]: row.tenant,
      },
    });
  }

  /** The attempt's outcome is recorded in a span of its own (tracing on). */
  private outcome(
    name: string,
    row: ClaimedJob,
    record: () => Promise<ConsumeOutcome>,
  ): Promise<ConsumeOutcome> {
    if (!tracingEnabled()) return record();
    return traced(
      name,
      { attributes: { [SPAN_ATTRIBUTES.jobId]: row.id, [SPAN_ATTRIBUTES.attempt]: row.attempts } },
      record,
    );
  }

  /**
   * The attempt's usage (with its CPU share and wall time) goes to the ledger, and its log lines
   * are written before its outcome (and terminal event) is.
   */
  private endRecords(
    row: ClaimedJob,
    record: AttemptRecord,
    cpuMark: number,
    started: number,
  ): Promise<void> | undefined {
    // Returns a promise only when the attempt logged: the others pay no extra await.
    if (record.ended) return undefined;
    record.ended = true;
    record.usage.units.set('cpu_seconds', this.cpu.end(cpuMark));
    record.usage.units.set('wall_seconds', (Date.now() - started) / 1000);
    this.recorders.usage.record(row, record.usage.units);
    return this.recorders.logs.finish(record.log);
  }

  private async complete(
    row: ClaimedJob,
    output: HandlerOutput,
    events: AttemptEvents,
    started: number,
    freeSlot: () => void,
  ) {
    const resultUrl = output.artifact ? `/api/v1/jobs/${row.id}/result` : null;
    const { step, message } = events.last;
    const outcome = { jobId: row.id, result: output.result, resultUrl, last: { step, message } };
    // Submitted first (it leads the turn's statement), then the slot frees; resolves once committed.
    const committed = this.durably(() =>
      row.flow_id ? this.flowCompletions.submit(outcome) : this.turn.complete(outcome),
    );
    freeSlot();
    const updated = await committed;
    if (!updated) {
      this.logger.warn('job was taken from this worker before it completed; result discarded');
      return Ack;
    }
    events.finished('completed', updated);
    if (this.logger.isLevelEnabled('info'))
      this.logger.info({ durationMs: Date.now() - started }, 'job completed');
    return Ack;
  }

  private async retry(
    row: ClaimedJob,
    error: JobError,
    delayMs: number,
    events: AttemptEvents,
    deferred = false,
    span?: Span,
  ): Promise<ConsumeOutcome> {
    const attemptTrace = span ? (currentCarrier(span)?.traceparent ?? null) : null;
    const updated = await this.durably(() =>
      this.lifecycle.scheduleRetry(
        row.id,
        this.options.workerId,
        error,
        delayMs,
        events.last,
        deferred,
        attemptTrace,
      ),
    );
    if (!updated) return Ack;
    events.finished('retrying', updated);
    this.logger.warn(
      { code: error.code, delayMs, attempt: row.attempts },
      `attempt failed, retrying: ${error.message}`,
    );
    try {
      await this.amqp.publish(JOB_DISPATCH, jobDispatch(row, Date.now() + delayMs), {
        delayMs,
        priority: row.priority,
        correlationId: row.correlation_id,
        messageId: row.id,
        // The next attempt joins the job's trace (under its insert), not this attempt's span.
        ...(row.traceparent ? { headers: traceHeaders(row) } : {}),
      });
    } catch (publishError) {
      // The job is durably `retrying`; the tracker's sweeper dispatches overdue retries.
      this.logger.warn({ err: publishError }, 'could not publish the delayed retry; the sweeper will');
    }
    return Ack;
  }

  private async fail(row: ClaimedJob, error: JobError, events: AttemptEvents, started: number) {
    const finished = await this.durably(() =>
      this.jobs.finish(
        row.id,
        this.options.workerId,
        { status: 'failed', error, deadLettered: true },
        events.last,
      ),
    );
    if (!finished) return Ack;
    events.finished('failed', finished.row);
    await this.flow.publish(finished.outbox);
    this.logger.warn({ durationMs: Date.now() - started, code: error.code }, `job failed: ${error.message}`);
    // The message follows the job into the dead-letter queue (SPEC §5); the job row is the DLQ entry.
    return DeadLetter(error.code);
  }

  private async cancelled(row: ClaimedJob, events: AttemptEvents): Promise<ConsumeOutcome> {
    const finished = await this.durably(() =>
      this.lifecycle.finishCancelled(row.id, this.options.workerId, events.last),
    );
    if (finished) {
      events.finished('cancelled', finished.row);
      await this.flow.publish(finished.outbox);
      this.logger.info('job cancelled');
    }
    return Ack;
  }

  /**
   * A provider's 429: the job's rate key is held fleet-wide until the provider's reset and the job
   * goes back to the backlog without spending an attempt (provider rate budgets, SPEC §11); the
   * dispatchers release it, and the key's other jobs, once the hold ends. A job without a rate key
   * waits the same time as `retrying`, as after an open circuit (no attempt spent either).
   */
  private async rateLimited(
    row: ClaimedJob,
    reason: RateLimitedError,
    error: JobError,
    events: AttemptEvents,
    span?: Span,
  ): Promise<ConsumeOutcome> {
    const retryAfterMs = Math.max(0, reason.retryAfterMs);
    const returned = await this.durably(() =>
      this.jobs.handBackRateLimited(row.id, this.options.workerId, retryAfterMs),
    );
    if (!returned) return this.retry(row, error, retryAfterMs, events, true, span);
    events.finished('queued', returned);
    this.logger.warn(
      { code: error.code, retryAfterMs, rateKey: returned.rate_key },
      `rate limited; rate key held for ${retryAfterMs} ms and the job handed back: ${error.message}`,
    );
    return Ack;
  }

  private async handBack(row: ClaimedJob, events: AttemptEvents): Promise<ConsumeOutcome> {
    const returned = await this.jobs.handBack(row.id, this.options.workerId);
    // SSE and live state in Redis follow events: without this one they would keep showing `running`.
    if (returned) events.finished('queued', returned);
    this.logger.info({ returned: returned !== null }, 'job handed back on shutdown');
    // The job is back in the backlog and the dispatchers were notified: they release it again, so
    // this delivery is done. Not handed back (the lease was lost): the sweeper's to recover.
    return Ack;
  }

  /**
   * Records an attempt's outcome, waiting out a dependency outage (the job keeps its place in
   * `running` map and its lease renewals meanwhile). Outcome updates are conditional on this
   * worker's lease, so if the sweeper handed the job back during the outage the late write is a
   * no-op. While stopping it gives up: the lease then expires and the sweeper recovers the job.
   */
  private async durably<T>(write: () => Promise<T>): Promise<T> {
    for (let failures = 1; ; failures++) {
      try {
        return await write();
      } catch (error) {
        if (!isDependencyUnavailable(error) || this.stopped.signal.aborted) throw error;
        const holdMs = backoffDelay(failures, CLAIM_HOLD_BACKOFF);
        this.logger.warn({ err: error, holdMs }, 'could not record the outcome; a dependency is unavailable');
        await sleep(holdMs, undefined, { signal: this.stopped.signal }).catch(() => undefined);
      }
    }
  }

  private async renewLeases(): Promise<void> {
    const ids = [...this.running.keys()];
    if (!ids.length) return;
    try {
      const [held, cancelRequested] = await Promise.all([
        this.jobs.renewLeases(this.options.workerId, ids, this.options.leaseMs),
        this.lifecycle.cancelRequested(ids),
      ]);
      const heldIds = new Set(held);
      for (const id of ids) {
        const job = this.running.get(id);
        if (!job || job.abort.aborted) continue;
        if (!heldIds.has(id)) job.abort.abort(new AbortReason('lease_lost', 'lease lost to another worker'));
        else if (cancelRequested.includes(id))
          job.abort.abort(new AbortReason('cancelled', 'cancelled on request'));
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'lease renewal failed');
    }
  }
}

/**
 * A counting semaphore of the worker's slots. A free slot goes to the waiter of the highest
 * priority (its delivery's), first come first served within one: a batched message's jobs waiting
 * in this worker do not hold back an urgent job delivered after them. `drain` lets every waiter
 * through at once (stopping: they requeue without running).
 */
export class Slots {
  private held = 0;
  private readonly waiting: { priority: number; resolve: () => void }[] = [];
  private draining = false;

  constructor(private readonly size: number) {}

  /** Resolves once a slot is this caller's. */
  acquire(priority = 0): Promise<void> {
    if (this.draining || this.held < this.size) {
      this.held++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push({ priority, resolve }));
  }

  /** Gives a slot back: the most urgent, then longest, waiter takes it over. */
  release(): void {
    let best = -1;
    for (let i = 0; i < this.waiting.length; i++) {
      const waiter = this.waiting[i];
      if (waiter && (best < 0 || waiter.priority > (this.waiting[best]?.priority ?? 0))) best = i;
    }
    if (best < 0) {
      this.held = Math.max(0, this.held - 1);
      return;
    }
    const [next] = this.waiting.splice(best, 1);
    next?.resolve();
  }

  drain(): void {
    this.draining = true;
    for (let next = this.waiting.shift(); next; next = this.waiting.shift()) {
      this.held++;
      next.resolve();
    }
  }

  /** Jobs waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }
}

/** The W3C headers a delivery carried. */
function traceHeadersOf(headers: Record<string, unknown>): Record<string, unknown> {
  const trace: Record<string, unknown> = { traceparent: headers['traceparent'] };
  if (typeof headers['tracestate'] === 'string') trace['tracestate'] = headers['tracestate'];
  return trace;
}

/** The W3C headers of the job's stored trace context. */
function traceHeaders(row: ClaimedJob): Record<string, string> {
  const headers: Record<string, string> = { traceparent: row.traceparent ?? '' };
  if (row.tracestate) headers['tracestate'] = row.tracestate;
  return headers;
}

/** A span per pipeline step the handler reports (`ctx.progress` with a new step), under its span. */
class StepSpans {
  private current: { name: string; span: Span | undefined } | undefined;

  constructor(private readonly handler: Span) {}

  step(name: string | null): void {
    if (name === null || name === this.current?.name) return;
    this.end();
    this.current = {
      name,
      span: startSpan(`step ${name}`, {
        parent: contextOf(this.handler),
        attributes: { [SPAN_ATTRIBUTES.step]: name },
      }),
    };
  }

  end(): void {
    endSpan(this.current?.span);
    this.current = undefined;
  }
}

function retryAfterOf(reason: unknown): number | undefined {
  return reason instanceof RetryableError ? reason.retryAfterMs : undefined;
}

export function toJobError(error: unknown, timeoutsRetryable = false): JobError {
  if (error instanceof AbortReason) {
    if (error.code === 'timeout')
      return { code: 'timeout', message: error.message, retryable: timeoutsRetryable };
    return { code: 'worker_lost', message: error.message, retryable: true };
  }
  if (
    error instanceof RetryableError ||
    error instanceof DeferredError ||
    error instanceof RateLimitedError
  ) {
    return { code: error.code, message: error.message, retryable: true };
  }
  if (error instanceof PermanentError) return { code: error.code, message: error.message, retryable: false };
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'handler_error', message, retryable: true };
}
