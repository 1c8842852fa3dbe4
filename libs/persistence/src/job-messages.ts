import {
  CLOUDEVENTS_CONTENT_TYPE,
  createJobEvent,
  eventRoutingKey,
  type AmqpNames,
  type CancelCommand,
  type JobCloudEvent,
  type JobDispatch,
  type JobEventData,
  type JobEventName,
} from '@switchyard/contracts';
import type { JobRow } from './job-row';
import type { OutboxMessage } from './jobs.repository';

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
] as const satisfies readonly (keyof JobRow)[];

/** The part of a `jobs` row that jobEventFromRow reads. */
export type JobEventSource = Pick<JobRow, (typeof JOB_EVENT_COLUMNS)[number]>;

/** The lifecycle event for a row's current state, with the row's own seq. */
export function jobEventFromRow(
  service: string,
  event: JobEventName,
  row: JobEventSource,
  overrides: Partial<JobEventData> = {},
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
      createdAt: row.created_at.toISOString(),
      ...(row.started_at ? { startedAt: row.started_at.toISOString() } : {}),
      ...(row.finished_at ? { finishedAt: row.finished_at.toISOString() } : {}),
      ...(row.next_attempt_at ? { nextAttemptAt: row.next_attempt_at.toISOString() } : {}),
      ...overrides,
    },
    row.correlation_id,
  );
}

export function eventOutboxMessage(names: AmqpNames, event: JobCloudEvent): OutboxMessage {
  return {
    jobId: event.data.jobId,
    exchange: names.eventsExchange,
    routingKey: eventRoutingKey(event.type.slice('switchyard.job.'.length) as JobEventName),
    body: event,
    properties: {
      correlationId: event.correlationid,
      messageId: event.id,
      type: event.type,
      contentType: CLOUDEVENTS_CONTENT_TYPE,
    },
  };
}

export function dispatchOutboxMessage(
  names: AmqpNames,
  row: Pick<JobRow, 'id' | 'tenant' | 'type' | 'queue' | 'priority' | 'correlation_id'>,
): OutboxMessage {
  const dispatch: JobDispatch = { jobId: row.id, tenant: row.tenant, type: row.type, queue: row.queue };
  return {
    jobId: row.id,
    exchange: names.jobsExchange,
    routingKey: row.queue,
    body: dispatch,
    properties: {
      priority: row.priority,
      correlationId: row.correlation_id,
      messageId: row.id,
      type: 'switchyard.job.dispatch',
    },
  };
}

export function cancelOutboxMessage(names: AmqpNames, row: JobRow): OutboxMessage {
  const command: CancelCommand = { jobId: row.id, tenant: row.tenant };
  return {
    jobId: row.id,
    exchange: names.controlExchange,
    routingKey: '',
    body: command,
    properties: { correlationId: row.correlation_id, type: 'switchyard.job.cancel' },
  };
}
