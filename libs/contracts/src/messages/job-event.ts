import { randomUUID } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { JobError } from '../errors';
import { JOB_STATUSES, type JobStatus } from '../job-status';
import {
  eventCloudType,
  eventRoutingKey,
  JOB_EVENTS,
  type JobEventName,
  type JobEventType,
} from '../routing';
import { jobRefFields } from './job-ref';
import { defineMessage } from './message';

export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json';

/**
 * Wire names: the lifecycle CloudEvents' `type` (and AMQP `type` property), `switchyard.job.<event>`.
 * Other systems bind to and match on them: never rename them.
 */
export const JOB_EVENT_TYPES = JOB_EVENTS.map(eventCloudType) as readonly JobEventType[];

const JobStatusSchema = Type.Unsafe<JobStatus>(Type.Union(JOB_STATUSES.map((s) => Type.Literal(s))));
const JobEventTypeSchema = Type.Unsafe<JobEventType>(Type.Union(JOB_EVENT_TYPES.map((t) => Type.Literal(t))));
/** Handlers may add their own error codes, so only the shape is checked. */
const JobErrorSchema = Type.Unsafe<JobError>(
  Type.Object({ code: Type.String(), message: Type.String(), retryable: Type.Boolean() }),
);
const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);

/** `data` of every lifecycle CloudEvent (SPEC §5). */
export const JobEventDataSchema = Type.Object({
  ...jobRefFields,
  status: JobStatusSchema,
  step: Nullable(Type.String()),
  progress: Type.Number(),
  message: Nullable(Type.String()),
  attempt: Type.Number(),
  seq: Type.Number(),
  error: Type.Optional(JobErrorSchema),
  resultUrl: Type.Optional(Type.String()),
  /** Times the metrics service needs for wait and duration histograms. */
  createdAt: Type.Optional(Type.String()),
  startedAt: Type.Optional(Type.String()),
  finishedAt: Type.Optional(Type.String()),
  nextAttemptAt: Type.Optional(Type.String()),
  /** The flow the job belongs to (SPEC §11): flow event streams select on it. */
  flowId: Type.Optional(Type.String()),
  /**
   * The job's priority, on `job.queued` when the job is accepted (seq 1, from the gateway) or put
   * back in the backlog by a statement (a scheduled job's promotion, a flow job's dependencies met,
   * a retry, a lease recovered): the metrics service's `jobs_submitted_total{priority}` label,
   * which it otherwise looks up.
   */
  priority: Type.Optional(Type.Integer({ minimum: 0, maximum: 9 })),
});
export type JobEventData = Static<typeof JobEventDataSchema>;

/** CloudEvents 1.0, structured mode (`application/cloudevents+json`), on `<prefix>.events` → `job.<event>`. */
export const JobCloudEventSchema = Type.Object({
  specversion: Type.Literal('1.0'),
  id: Type.String(),
  source: Type.String(),
  type: JobEventTypeSchema,
  subject: Type.String({ description: 'the job id' }),
  time: Type.String({ description: 'ISO-8601 UTC' }),
  correlationid: Type.String(),
  datacontenttype: Type.Literal('application/json'),
  data: JobEventDataSchema,
});
export type JobCloudEvent = Static<typeof JobCloudEventSchema>;

/** The event name of a CloudEvent: `completed` for `switchyard.job.completed`. */
export function jobEventName(event: { type: JobEventType }): JobEventName {
  return event.type.slice('switchyard.job.'.length) as JobEventName;
}

/** One definition for the seven event names: the payload's own `type` says which it is. */
export const jobEventMessage = defineMessage({
  schema: JobCloudEventSchema,
  exchange: (names) => names.eventsExchange,
  routingKey: (event) => eventRoutingKey(jobEventName(event)),
  properties: (event) => ({
    type: event.type,
    messageId: event.id,
    correlationId: event.correlationid,
    contentType: CLOUDEVENTS_CONTENT_TYPE,
  }),
  mandatory: false,
});

export const JOB_EVENT_MESSAGES = Object.fromEntries(
  JOB_EVENT_TYPES.map((type) => [type, jobEventMessage]),
) as { readonly [T in JobEventType]: typeof jobEventMessage };

/**
 * The one builder of lifecycle CloudEvents. `id` and `time` default to a new UUID and now; the
 * SSE stream passes the stored event's own.
 */
export function createJobEvent(
  service: string,
  event: JobEventName,
  data: JobEventData,
  correlationId: string,
  at: { id?: string; time?: string } = {},
): JobCloudEvent {
  return {
    specversion: '1.0',
    id: at.id ?? randomUUID(),
    source: `switchyard/${service}`,
    type: eventCloudType(event),
    subject: data.jobId,
    time: at.time ?? new Date().toISOString(),
    correlationid: correlationId,
    datacontenttype: 'application/json',
    data,
  };
}

/** Check for events arriving from the broker; anything else is a poison message. */
export function isJobCloudEvent(value: unknown): value is JobCloudEvent {
  return jobEventMessage.check.Check(value);
}
