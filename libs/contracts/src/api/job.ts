import { Type, type Static } from '@sinclair/typebox';
import { LIMITS, JobSubmissionSchema } from '../job';
import { JOB_STATUSES } from '../job-status';
import { JOB_EVENTS } from '../routing';
import { isoTime, literals, nextCursor, nullable } from './schema';

// Job bodies of the REST API (SPEC §3, §4). Field names are public contract: never rename them.

export const JobErrorSchema = Type.Object(
  {
    code: Type.String({ description: 'stable code, e.g. timeout, worker_lost, permanent_error' }),
    message: Type.String(),
    retryable: Type.Boolean(),
  },
  { title: 'JobError' },
);

const jobFields = {
  id: Type.String({ format: 'uuid' }),
  type: Type.String(),
  queue: Type.String(),
  tenant: Type.String(),
  status: literals(JOB_STATUSES),
  priority: Type.Integer({ minimum: 0, maximum: 9 }),
  step: nullable(Type.String()),
  progress: Type.Number({ minimum: 0, maximum: 100 }),
  message: nullable(Type.String({ description: 'last progress message' })),
  attempts: Type.Integer({ minimum: 0 }),
  maxAttempts: Type.Integer({ minimum: 1 }),
  timeoutMs: Type.Integer({ minimum: 1 }),
  correlationId: Type.String(),
  idempotencyKey: nullable(Type.String()),
  payload: Type.Record(Type.String(), Type.Unknown()),
  metadata: Type.Record(Type.String(), Type.Unknown()),
  result: Type.Unknown({ description: 'inline JSON result (small results)' }),
  resultUrl: nullable(Type.String({ description: 'where the artifact result downloads from' })),
  error: nullable(JobErrorSchema),
  createdAt: isoTime(),
  startedAt: nullable(isoTime()),
  finishedAt: nullable(isoTime()),
  nextAttemptAt: nullable(isoTime()),
  runAt: nullable(isoTime('when a delayed job becomes `queued` (set while `scheduled`, kept afterwards)')),
  cancelRequested: Type.Boolean(),
  estimatedWaitMs: Type.Optional(Type.Integer({ minimum: 0, description: 'while queued' })),
  deadLettered: Type.Boolean(),
  scheduleId: Type.Optional(
    Type.String({ format: 'uuid', description: 'the schedule that created this run' }),
  ),
  scheduledFor: Type.Optional(isoTime('a schedule run’s tick time')),
  // Flows (SPEC §11).
  flowId: Type.Optional(
    nullable(Type.String({ format: 'uuid', description: 'the flow the job belongs to' })),
  ),
  ref: Type.Optional(nullable(Type.String({ description: 'the job’s name within its flow' }))),
  concurrencyKey: Type.Optional(
    nullable(Type.String({ description: 'the job’s concurrency key (per-key concurrency), if any' })),
  ),
  waitingFor: Type.Optional(
    Type.String({
      description:
        'why a queued or waiting job is held back: `dependencies` (a flow job waiting for its dependencies), ' +
        '`concurrency`, `rate`, `paused`; absent otherwise',
    }),
  ),
  webhookUrl: Type.Optional(
    Type.String({ description: 'the job’s webhook URL override, when it was submitted with one' }),
  ),
  traceId: Type.Optional(
    Type.String({ pattern: '^[0-9a-f]{32}$', description: 'the job’s OpenTelemetry trace (when traced)' }),
  ),
};

/** A job as the API returns it (SPEC §3 fields, camelCase, ISO-8601 UTC times). */
export const JobViewSchema = Type.Object(jobFields, { title: 'Job', description: 'A job (SPEC §3)' });
export type JobView = Static<typeof JobViewSchema>;

/** One persisted lifecycle event of a job: its step and progress history. */
export const JobHistoryEntrySchema = Type.Object(
  {
    seq: Type.Integer(),
    event: literals(JOB_EVENTS),
    status: literals(JOB_STATUSES),
    step: nullable(Type.String()),
    progress: Type.Number(),
    message: nullable(Type.String()),
    attempt: Type.Integer(),
    at: isoTime(),
  },
  { title: 'HistoryEntry' },
);
export type JobHistoryEntry = Static<typeof JobHistoryEntrySchema>;

/** Entries `GET /jobs/{id}` carries; older ones page through `GET /jobs/{id}/history`. */
export const JOB_VIEW_HISTORY = 100;

/** `GET /jobs/{id}`: the job with the tail of its history. */
export const JobDetailSchema = Type.Intersect(
  [
    JobViewSchema,
    Type.Object({
      history: Type.Array(JobHistoryEntrySchema, {
        maxItems: JOB_VIEW_HISTORY,
        description: `the last ${JOB_VIEW_HISTORY} entries, oldest first`,
      }),
      historyTruncated: Type.Boolean({ description: 'older entries exist than `history` holds' }),
      historyNext: nullable(
        Type.String({
          description: 'when truncated: the `GET /jobs/{id}/history` link that pages the whole history',
        }),
      ),
    }),
  ],
  { title: 'JobDetail', description: 'A job with its persisted step and progress history' },
);
export type JobDetail = Static<typeof JobDetailSchema>;

/** `POST /jobs` (and each item of a batch answer): the job, new or existing, with the reason. */
export const SubmittedJobSchema = Type.Intersect(
  [
    JobViewSchema,
    Type.Object({
      deduplicated: Type.Boolean({
        description: 'an identical request within the window, or an idempotent replay',
      }),
      cached: Type.Boolean({ description: 'answered from the result cache; no new work' }),
    }),
  ],
  {
    title: 'SubmittedJob',
    description: 'A submitted job: new (202), or an existing one (200) with the reason',
  },
);
export type SubmittedJob = Static<typeof SubmittedJobSchema>;

/** Largest page of `GET /jobs/{id}/history`. */
export const HISTORY_PAGE_MAX = 1000;

export const JobHistoryPageSchema = Type.Object(
  {
    items: Type.Array(JobHistoryEntrySchema, { maxItems: HISTORY_PAGE_MAX, description: 'oldest first' }),
    nextCursor: nextCursor(),
  },
  { title: 'HistoryPage' },
);
export type JobHistoryPage = Static<typeof JobHistoryPageSchema>;

/** A list item: `payload` and `result` only when `include` names them. */
export const JobSummarySchema = Type.Object(
  {
    ...jobFields,
    payload: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), { description: 'with include=payload' }),
    ),
    result: Type.Optional(Type.Unknown({ description: 'with include=result' })),
  },
  {
    title: 'JobSummary',
    description: 'A job as lists show it: without `payload` and `result` unless `include` names them',
  },
);
export type JobSummary = Static<typeof JobSummarySchema>;

/** `GET /jobs`. */
export const JobSummaryPageSchema = Type.Object(
  { items: Type.Array(JobSummarySchema, { maxItems: LIMITS.listLimitMax }), nextCursor: nextCursor() },
  { title: 'JobSummaryList' },
);
export type JobSummaryPage = Static<typeof JobSummaryPageSchema>;

/** `GET /dlq`: full jobs. */
export const JobPageSchema = Type.Object(
  { items: Type.Array(JobViewSchema, { maxItems: LIMITS.listLimitMax }), nextCursor: nextCursor() },
  { title: 'JobList' },
);
export type JobPage = Static<typeof JobPageSchema>;

/** `POST /jobs/batch`; `maxItems` is the configured BATCH_MAX_ITEMS. */
export function batchRequestSchema(maxItems: number) {
  return Type.Object(
    { jobs: Type.Array(JobSubmissionSchema, { minItems: 1, maxItems }) },
    {
      title: 'BatchRequest',
      additionalProperties: false,
      description: `at most BATCH_MAX_ITEMS (${maxItems}) jobs; all or nothing`,
    },
  );
}
export type BatchRequest = Static<ReturnType<typeof batchRequestSchema>>;

export const BatchResponseSchema = Type.Object(
  {
    jobs: Type.Array(SubmittedJobSchema, { description: 'in request order' }),
    estimatedTotalMs: Type.Integer({
      minimum: 0,
      description: 'until the last job of the batch is expected to finish',
    }),
  },
  { title: 'BatchResponse' },
);
export type BatchResponse = Static<typeof BatchResponseSchema>;
