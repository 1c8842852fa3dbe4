import type { JobError, JobEventName, JobHistoryEntry, JobStatus, JobView } from '@switchyard/contracts';

/** A `jobs` row as node-postgres returns it. */
export interface JobRow {
  id: string;
  tenant: string;
  type: string;
  queue: string;
  status: JobStatus;
  priority: number;
  step: string | null;
  progress: number;
  message: string | null;
  attempts: number;
  max_attempts: number;
  timeout_ms: number;
  correlation_id: string;
  idempotency_key: string | null;
  request_hash: string;
  payload: Record<string, unknown>;
  metadata: Record<string, unknown>;
  result: unknown;
  result_url: string | null;
  error: JobError | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  next_attempt_at: Date | null;
  cancel_requested: boolean;
  dead_lettered: boolean;
  lease_owner: string | null;
  lease_expires_at: Date | null;
  event_seq: string;
  progress_seq: string;
  /**
   * The release mark: null while a `queued` job waits in PostgreSQL (the backlog), the time its
   * dispatch message was sent once the dispatcher released it (until a worker claims it).
   */
  dispatched_at: Date | null;
  /** When a delayed job becomes `queued` (set for `scheduled` jobs, kept afterwards). */
  run_at: Date | null;
  /** The `attempts` value the last release was for. */
  released_attempt: number | null;
  /** How many times the job was released (re-releases included). */
  releases: number;
  /** The schedule that created this job (a schedule run), else null. */
  schedule_id: string | null;
  /** A schedule run's tick time. */
  scheduled_for: Date | null;
  /** The flow the job belongs to, and its name there. */
  flow_id: string | null;
  /** Per-key concurrency: the key whose limit holds the job back (SPEC §11); null: none. */
  concurrency_key: string | null;
  /** Provider rate budgets: the job's rate key (from its type's `rateKey`), if any. */
  rate_key: string | null;
  ref: string | null;
  /** What a `waiting` job does when a dependency fails or is cancelled: fail, run or skip. */
  on_dependency_failure: 'fail' | 'run' | 'skip';
  /** Dependencies still holding a `waiting` job back. */
  pending_deps: number;
  /** The job whose handler spawned this one, and its index among the spawned jobs. */
  spawned_by: string | null;
  spawn_index: number | null;
  /** Attempts counted before the last flow retry (max_attempts − attempts_base is the budget of a run). */
  attempts_base: number;
  /** W3C trace context of the job's insert span (NULL while tracing is off). */
  traceparent: string | null;
  tracestate: string | null;
  /** The span of the last failed attempt, which the next attempt links to. */
  attempt_traceparent: string | null;
  /** The job's webhook URL override (`webhookUrl` on submit). */
  webhook_url: string | null;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** `traceId` of the job view: the trace id of its stored traceparent, when it was traced. */
function traceIdField(traceparent: string | null | undefined): { traceId?: string } {
  const id = traceparent?.split('-')[1];
  return id ? { traceId: id } : {};
}

export function toJobView(row: JobRow): JobView {
  return {
    id: row.id,
    type: row.type,
    queue: row.queue,
    tenant: row.tenant,
    status: row.status,
    priority: row.priority,
    step: row.step,
    progress: row.progress,
    message: row.message,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    timeoutMs: row.timeout_ms,
    correlationId: row.correlation_id,
    idempotencyKey: row.idempotency_key,
    payload: row.payload,
    metadata: row.metadata,
    result: row.result ?? null,
    resultUrl: row.result_url,
    error: row.error,
    createdAt: row.created_at.toISOString(),
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    nextAttemptAt: iso(row.next_attempt_at),
    runAt: iso(row.run_at),
    cancelRequested: row.cancel_requested,
    deadLettered: row.dead_lettered,
    ...(row.schedule_id
      ? { scheduleId: row.schedule_id, scheduledFor: iso(row.scheduled_for) ?? undefined }
      : {}),
    ...(row.flow_id ? { flowId: row.flow_id, ref: row.ref } : {}),
    ...(row.concurrency_key ? { concurrencyKey: row.concurrency_key } : {}),
    ...(row.status === 'waiting' ? { waitingFor: 'dependencies' } : {}),
    ...(row.webhook_url ? { webhookUrl: row.webhook_url } : {}),
    ...traceIdField(row.traceparent),
  };
}

export interface JobEventRow {
  seq: string;
  event: JobEventName;
  status: JobStatus;
  step: string | null;
  progress: number;
  message: string | null;
  attempt: number;
  created_at: Date;
}

export function toHistoryEntry(row: JobEventRow): JobHistoryEntry {
  return {
    seq: Number(row.seq),
    event: row.event,
    status: row.status,
    step: row.step,
    progress: row.progress,
    message: row.message,
    attempt: row.attempt,
    at: row.created_at.toISOString(),
  };
}
