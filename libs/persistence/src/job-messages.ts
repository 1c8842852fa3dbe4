import {
  createJobEvent,
  JOB_CANCEL,
  JOB_DISPATCH,
  jobDispatch,
  jobDispatchBatch,
  type JobCloudEvent,
  type JobEventData,
  type JobEventName,
  type MessageName,
  type MessageOf,
} from '@switchyard/contracts';
import type { JobRow } from './job-row';

/** The `jobs` columns a lifecycle event is built from (what the hot path's statements return). */
export const JOB_EVENT_COLUMNS = [
  'id',
  'tenant',
  'type',
  'queue',
  'status',
  'step',
  'progress',
  'message',
  'attempts',
  'event_seq',
  'error',
  'result_url',
  'created_at',
  'started_at',
  'finished_at',
  'next_attempt_at',
  'correlation_id',
  'flow_id',
] as const satisfies readonly (keyof JobRow)[];

/**
 * What a statement that wrote an event's history row returns beside the row: the row's
 * `created_at`, which becomes the event's `time` so that the event and its history entry agree.
 */
export interface EventTime {
  event_at: Date;
}

/** The part of a `jobs` row that jobEventFromRow reads. */
export type JobEventSource = Pick<JobRow, (typeof JOB_EVENT_COLUMNS)[number]> & Partial<EventTime>;

const toIso = (time: Date): string => time.toISOString();

/**
 * The lifecycle event for a row's current state, with the row's own seq. Its `time` is `at`: by
 * default the row's `event_at` when the statement that returned it wrote the event's history row,
 * else now. `iso` formats the times: a caller that builds several events of one job (the worker's
 * attempt) passes one that remembers what it formatted, since the same times recur.
 */
export function jobEventFromRow(
  service: string,
  event: JobEventName,
  row: JobEventSource,
  overrides: Partial<JobEventData> = {},
  at: Date | null | undefined = row.event_at,
  iso: (time: Date) => string = toIso,
): JobCloudEvent {
  return createJobEvent(
    service,
    event,
    {
      jobId: row.id,
      tenant: row.tenant,
      type: row.type,
      queue: row.queue,
      status: row.status,
      step: row.step,
      progress: row.progress,
      message: row.message,
      attempt: row.attempts,
      seq: Number(row.event_seq),
      ...(row.error ? { error: row.error } : {}),
      ...(row.result_url ? { resultUrl: row.result_url } : {}),
      createdAt: iso(row.created_at),
      ...(row.started_at ? { startedAt: iso(row.started_at) } : {}),
      ...(row.finished_at ? { finishedAt: iso(row.finished_at) } : {}),
      ...(row.next_attempt_at ? { nextAttemptAt: iso(row.next_attempt_at) } : {}),
      ...(row.flow_id ? { flowId: row.flow_id } : {}),
      ...overrides,
    },
    row.correlation_id,
    at ? { time: iso(at) } : {},
  );
}

/**
 * The `job.queued` event of a row that has just become queued (a scheduled job's promotion, a flow
 * job whose dependencies completed, a retry), with the job's priority as the gateway's own
 * `job.queued` carries it: the metrics service labels acceptances by priority without a lookup.
 */
export function queuedEventFromRow(
  service: string,
  row: JobEventSource & Pick<JobRow, 'priority'>,
): JobCloudEvent {
  return jobEventFromRow(service, 'queued', row, { priority: row.priority });
}

/** A message to publish once its transaction commits: a catalogue name and its payload. */
export type OutboxMessage = {
  [N in MessageName]: {
    jobId: string | null;
    name: N;
    payload: MessageOf<N>;
    /** Publish options the payload does not carry. */
    options: { priority?: number; correlationId?: string; messageId?: string };
  };
}[MessageName];

export type OutboxRecord = OutboxMessage & { id: string };

export function eventOutboxMessage(event: JobCloudEvent): OutboxMessage {
  return { jobId: event.data.jobId, name: event.type, payload: event, options: {} };
}

/** The job a `job.queued` event describes. */
export interface QueuedJob {
  id: string;
  tenant: string;
  type: string;
  queue: string;
  priority: number;
  correlationId: string;
  flowId?: string | null;
}

/**
 * The `job.queued` event (seq 1) of a job inserted `queued`; `service` is the producer (the
 * gateway, or a tool that inserts jobs as the gateway does).
 */
export function queuedEvent(service: string, job: QueuedJob, createdAt: string): JobCloudEvent {
  return createJobEvent(
    service,
    'queued',
    {
      jobId: job.id,
      tenant: job.tenant,
      type: job.type,
      queue: job.queue,
      status: 'queued',
      step: null,
      progress: 0,
      message: null,
      attempt: 0,
      seq: 1,
      createdAt,
      ...(job.flowId ? { flowId: job.flowId } : {}),
      // The metrics service labels the acceptance with it (no lookup of the job's row).
      priority: job.priority,
    },
    job.correlationId,
  );
}

/** queuedEvent as the outbox message written with the job. */
export function queuedEventOf(service: string, job: QueuedJob, createdAt: string): OutboxMessage {
  return eventOutboxMessage(queuedEvent(service, job, createdAt));
}

export function dispatchOutboxMessage(
  row: Pick<JobRow, 'id' | 'tenant' | 'type' | 'queue' | 'priority' | 'correlation_id'>,
): OutboxMessage {
  return {
    jobId: row.id,
    name: JOB_DISPATCH,
    payload: jobDispatch(row),
    options: { priority: row.priority, correlationId: row.correlation_id, messageId: row.id },
  };
}

/**
 * The work message of several jobs of one queue, priority and type (batched dispatch): one outbox
 * row for all of them, its `job_id` the first job's.
 */
export function dispatchBatchOutboxMessage(
  rows: readonly Pick<JobRow, 'id' | 'tenant' | 'type' | 'queue' | 'priority' | 'correlation_id'>[],
): OutboxMessage {
  const [first] = rows;
  if (!first) throw new RangeError('a work message carries at least one job');
  if (rows.length === 1) return dispatchOutboxMessage(first);
  return {
    jobId: first.id,
    name: JOB_DISPATCH,
    payload: jobDispatchBatch(rows),
    options: { priority: first.priority, correlationId: first.correlation_id, messageId: first.id },
  };
}

export function cancelOutboxMessage(row: JobRow): OutboxMessage {
  return {
    jobId: row.id,
    name: JOB_CANCEL,
    payload: { jobId: row.id, tenant: row.tenant },
    options: { correlationId: row.correlation_id },
  };
}
