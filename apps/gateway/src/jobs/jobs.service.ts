import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  ApiError,
  HISTORY_PAGE_MAX,
  isUuid,
  JOB_VIEW_HISTORY,
  type JobDetail,
  type JobHistoryEntry,
  type JobSummary,
  type JobView,
} from '@switchyard/contracts';
import {
  SPAN_ATTRIBUTES,
  correlation,
  currentCarrier,
  endSpan,
  startSpan,
  tracingEnabled,
  withSpan,
} from '@switchyard/observability';
import {
  dispatchBatchOutboxMessage,
  JobQueriesRepository,
  JobsRepository,
  LimitsRepository,
  InvalidCursorError,
  queuedEventOf,
  toJobView,
  type JobListQuery,
  type JobRow,
  type NewJob,
  type OutboxMessage,
  type OutboxRecord,
} from '@switchyard/persistence';
import { Dispatcher } from '../dispatch/dispatcher';
import { dispatchBatches } from '../dispatch/batching';
import { OutboxPublisher } from './outbox.publisher';
import { QueueMonitor } from '../queues/queue.monitor';
import { LOGGER, SERVICE_NAME, type Logger } from '../gateway.tokens';
import { JobInserter } from './job-inserter';
import type { ValidSubmission } from './submission.validator';

/** History entries `GET /jobs/{id}` carries, and the largest page of `GET /jobs/{id}/history`. */
export { HISTORY_PAGE_MAX, JOB_VIEW_HISTORY };

/** New jobs and their `job.queued` events, ready to insert (JobsService.prepare). */
export interface PreparedJobs {
  jobs: NewJob[];
  outbox: OutboxMessage[];
}

export interface ListInclude {
  payload: boolean;
  result: boolean;
}

export function encodeHistoryCursor(seq: number): string {
  return Buffer.from(`h${seq}`).toString('base64url');
}

function decodeHistoryCursor(cursor: string): number {
  const match = /^h(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (cursor.length > 40 || !match) {
    throw new ApiError('validation_failed', 'invalid history cursor', [
      { field: 'cursor', message: 'cursor is not one this API returned' },
    ]);
  }
  return Number(match[1]);
}

@Injectable()
export class JobsService {
  private readonly inserter: JobInserter;

  constructor(
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly jobs: JobsRepository,
    private readonly queries: JobQueriesRepository,
    private readonly outbox: OutboxPublisher,
    private readonly monitor: QueueMonitor,
    private readonly dispatcher: Dispatcher,
    private readonly limits: LimitsRepository,
  ) {
    this.inserter = new JobInserter(jobs);
  }

  /**
   * Inserts jobs (with the ids given, or new ones) with the `job.queued` events of those queued
   * now in one statement (shared with concurrent submissions under load), all or nothing; delayed
   * jobs are stored `scheduled`. Returns once committed, with the dispatcher releasing the queued
   * jobs (the fast path) and the events published in the background (the outbox relay repairs
   * what a crash leaves unpublished).
   */
  create(submissions: ValidSubmission[], tenant: string, ids?: readonly string[]): Promise<JobRow[]> {
    if (!tracingEnabled()) return this.insert(this.prepare(submissions, tenant, ids));
    return this.createTraced(submissions, tenant, ids);
  }

  /** create() with tracing on: the insert span's context is stored with the jobs (their dispatch
   * and every attempt hang under it). */
  private async createTraced(
    submissions: ValidSubmission[],
    tenant: string,
    ids?: readonly string[],
  ): Promise<JobRow[]> {
    const span = startSpan('job.insert', {
      attributes: { [SPAN_ATTRIBUTES.tenant]: tenant, [SPAN_ATTRIBUTES.jobs]: submissions.length },
    });
    try {
      const stored = await withSpan(span, () =>
        this.insert(this.prepare(submissions, tenant, ids, undefined, currentCarrier(span))),
      );
      if (stored.length === 1 && stored[0]) span?.setAttribute(SPAN_ATTRIBUTES.jobId, stored[0].id);
      endSpan(span);
      return stored;
    } catch (error) {
      endSpan(span, error);
      throw error;
    }
  }

  private async insert(prepared: PreparedJobs): Promise<JobRow[]> {
    const { rows: stored, outboxIds } = await this.inserter.insert(prepared.jobs, prepared.outbox);
    await this.committed(prepared, outboxIds);
    return stored;
  }

  /**
   * The rows and `job.queued` events of new jobs, for an insert in a caller's own transaction
   * (schedule runs: `extra` names the schedule and tick of each); `committed()` follows the commit.
   * `trace` is the insert span's context (tracing on), stored with the jobs.
   */
  prepare(
    submissions: readonly ValidSubmission[],
    tenant: string,
    ids?: readonly string[],
    extra?: readonly Partial<Pick<NewJob, 'scheduleId' | 'scheduledFor'>>[],
    trace?: { traceparent: string; tracestate?: string },
  ): PreparedJobs {
    const correlationId = correlation.get()?.correlationId ?? randomUUID();
    // Filled in place (newJobOf builds a fresh object): no copy per job for what is usually absent.
    const jobs: NewJob[] = submissions.map((s, i) => {
      const job = newJobOf(s, tenant, ids?.[i] ?? randomUUID(), correlationId);
      const more = extra?.[i];
      if (more) Object.assign(job, more);
      if (trace) {
        job.traceparent = trace.traceparent;
        job.tracestate = trace.tracestate ?? null;
      }
      return job;
    });
    this.releaseFast(jobs);
    const createdAt = new Date().toISOString();
    const outbox: OutboxMessage[] = [];
    for (const job of jobs) if (!job.runAt) outbox.push(queuedEventOf(SERVICE_NAME, job, createdAt));
    // The released jobs' work messages: several jobs of a short type per message and outbox row.
    const released = jobs.filter((job) => job.released).map(dispatchRowOf);
    if (released.length) {
      for (const batch of dispatchBatches(released, (type) => this.dispatcher.batchSizeOf(type)))
        outbox.push(dispatchBatchOutboxMessage(batch));
    }
    return { jobs, outbox };
  }

  /**
   * The fast path (docs/architecture.md): jobs queued at once with no key, of a queue whose
   * dispatcher has no backlog and room in its window, are released by their own insert, their work
   * messages written to the outbox with them and published right after the commit. Jobs with a
   * trace context keep the release statement, whose publish records the job.dispatch span.
   */
  private releaseFast(jobs: NewJob[]): void {
    const perQueue = new Map<string, NewJob[]>();
    for (const job of jobs) {
      if (job.runAt || job.pendingDeps || job.concurrencyKey || job.rateKey || job.traceparent) continue;
      const list = perQueue.get(job.queue);
      if (list) list.push(job);
      else perQueue.set(job.queue, [job]);
    }
    for (const [queue, list] of perQueue) {
      if (this.dispatcher.reserveFast(queue, list.length)) for (const job of list) job.released = true;
    }
  }

  /** After the commit of prepared jobs: the fast path, their events, the log. */
  async committed(prepared: PreparedJobs, outboxIds: readonly string[]): Promise<void> {
    const { jobs: rows, outbox: messages } = prepared;
    this.afterInsert(rows);
    const records: OutboxRecord[] = messages.map((m, i) => ({ ...m, id: outboxIds[i] ?? '' }));
    // Published in the background; only under backpressure does the caller wait for confirms.
    const backpressure = this.outbox.publishAfterCommit(records);
    if (backpressure) await backpressure;
    if (this.logger.isLevelEnabled('info')) {
      for (const job of rows) {
        this.logger.info(
          { jobId: job.id, tenant: job.tenant, type: job.type, queue: job.queue, priority: job.priority },
          'job accepted',
        );
      }
    }
  }

  /**
   * One job with the last JOB_VIEW_HISTORY entries of its history (a job may have thousands);
   * `historyNext` pages the whole history from the start. 404 when it does not exist or `tenant`
   * (if given) does not own it.
   */
  async get(id: string, tenant: string | undefined): Promise<JobDetail> {
    const row = await this.find(id, tenant);
    const [{ entries, truncated }, view] = await Promise.all([
      this.jobs.historyTail(row.id, JOB_VIEW_HISTORY),
      this.viewWithExactWait(row),
    ]);
    return {
      ...view,
      history: entries,
      historyTruncated: truncated,
      historyNext: truncated ? `/api/v1/jobs/${row.id}/history?limit=${HISTORY_PAGE_MAX}` : null,
    };
  }

  /** A page of one job's history, oldest first, after `cursor` (a `nextCursor` of this route). */
  async history(
    id: string,
    tenant: string | undefined,
    cursor: string | undefined,
    limit: number,
  ): Promise<{ items: JobHistoryEntry[]; nextCursor: string | null }> {
    const afterSeq = cursor === undefined ? 0 : decodeHistoryCursor(cursor);
    const row = await this.find(id, tenant);
    const { entries, more } = await this.jobs.historyPage(row.id, afterSeq, limit);
    const last = entries[entries.length - 1];
    return { items: entries, nextCursor: more && last ? encodeHistoryCursor(last.seq) : null };
  }

  /** The row, or 404 `not_found` (also for another tenant's job: existence does not leak). */
  async find(id: string, tenant: string | undefined): Promise<JobRow> {
    const row = isUuid(id) ? await this.jobs.findById(id, tenant) : null;
    if (!row) throw new ApiError('not_found', `job ${id} not found`);
    return row;
  }

  /**
   * A page of job summaries: without `payload` and `result` (either may be large) unless `include`
   * names them.
   */
  async list(
    query: JobListQuery,
    include: ListInclude = { payload: false, result: false },
  ): Promise<{ items: JobSummary[]; nextCursor: string | null }> {
    try {
      const { rows, nextCursor } = await this.jobs.list(query);
      const items = rows.map((r): JobSummary => {
        const { payload, result, ...summary } = this.view(r);
        return {
          ...summary,
          ...(include.payload ? { payload } : {}),
          ...(include.result ? { result } : {}),
        };
      });
      return { items, nextCursor };
    } catch (error) {
      if (error instanceof InvalidCursorError) {
        throw new ApiError('validation_failed', error.message, [{ field: 'cursor', message: error.message }]);
      }
      throw error;
    }
  }

  /** The API view; queued jobs get an estimatedWaitMs from the queue's recent rate (SPEC §6). */
  view(row: JobRow, extraAhead?: number): JobView {
    const view = toJobView(row);
    if (row.status === 'queued')
      view.estimatedWaitMs = this.monitor.estimateWaitMs(row.queue, row.priority, extraAhead);
    return view;
  }

  /** Like view(), with the exact number of jobs ahead counted in PostgreSQL (one job's page). */
  private async viewWithExactWait(row: JobRow): Promise<JobView> {
    const view = toJobView(row);
    if (row.status === 'queued') {
      const [ahead, limited, rated] = await Promise.all([
        this.queries.queuedAhead(row),
        // Held back in the backlog by its key's limit (per-key concurrency).
        row.concurrency_key && row.dispatched_at === null ? this.limits.limited(row.concurrency_key) : false,
        // Held back by its rate key: a provider's 429 hold, or a budget without a token left (a job
        // with a concurrency key too is released by its concurrency key alone).
        row.rate_key && !row.concurrency_key && row.dispatched_at === null
          ? this.limits.rateHeld(row.rate_key)
          : false,
      ]);
      view.estimatedWaitMs = this.monitor.waitForAhead(row.queue, ahead);
      if (limited) view.waitingFor = 'concurrency';
      else if (rated) view.waitingFor = 'rate';
    }
    return view;
  }

  /** The fast path: queued jobs are released right after the commit; delayed ones arm the timer. */
  private afterInsert(rows: readonly NewJob[]): void {
    const first = rows[0];
    if (rows.length === 1 && first && !first.runAt) {
      // Released by its insert: nothing new waits in the backlog.
      if (!first.released) {
        this.dispatcher.kick([first.queue], Boolean(first.concurrencyKey), Boolean(first.rateKey));
      }
      this.monitor.noteDispatched(first.queue, 1);
      return;
    }
    const perQueue = new Map<string, number>();
    const backlog = new Set<string>();
    let earliest: string | undefined;
    let keyed = false;
    let rated = false;
    for (const job of rows) {
      if (job.runAt) {
        if (earliest === undefined || job.runAt < earliest) earliest = job.runAt;
      } else {
        perQueue.set(job.queue, (perQueue.get(job.queue) ?? 0) + 1);
        if (!job.released) backlog.add(job.queue);
        keyed ||= Boolean(job.concurrencyKey);
        rated ||= Boolean(job.rateKey);
      }
    }
    if (backlog.size) this.dispatcher.kick(backlog, keyed, rated);
    for (const [queue, count] of perQueue) this.monitor.noteDispatched(queue, count);
    if (earliest !== undefined) this.dispatcher.scheduled(new Date(earliest));
  }

  /** After a flow's insert: the fast path for its queued jobs, the timer for its delayed ones. */
  afterFlowInsert(rows: readonly NewJob[]): void {
    this.afterInsert(rows.filter((job) => !job.pendingDeps));
  }
}

/** The row of a valid submission. */
export function newJobOf(s: ValidSubmission, tenant: string, id: string, correlationId: string): NewJob {
  return {
    id,
    tenant,
    type: s.type,
    queue: s.queue,
    priority: s.priority,
    maxAttempts: s.maxAttempts,
    timeoutMs: s.timeoutMs,
    correlationId,
    idempotencyKey: s.idempotencyKey,
    requestHash: s.requestHash,
    payload: s.payload,
    metadata: s.metadata,
    runAt: s.runAt,
    ...(s.concurrencyKey ? { concurrencyKey: s.concurrencyKey } : {}),
    ...(s.rateKey ? { rateKey: s.rateKey } : {}),
    webhookUrl: s.webhookUrl ?? null,
  };
}

/** The columns of a new job its work message carries. */
function dispatchRowOf(job: NewJob) {
  const { id, tenant, type, queue, priority, correlationId } = job;
  return { id, tenant, type, queue, priority, correlation_id: correlationId, effectivePriority: priority };
}
