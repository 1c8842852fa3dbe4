import { Type, type TSchema } from '@sinclair/typebox';
import {
  API_ERRORS,
  JOB_EVENTS,
  JOB_STATUSES,
  JobSubmissionSchema,
  LIMITS,
  type JobView,
} from '@switchyard/contracts';
import { SCOPES } from '../auth/caller';

// The API's schemas, once: request bodies are validated against them (Ajv) and the OpenAPI
// document publishes them as components (docs/openapi.ts). Every string and array is bounded.

/** A reference to a component schema of the OpenAPI document. */
export const ref = (name: ComponentName) => Type.Unsafe({ $ref: `#/components/schemas/${name}` });

const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const isoTime = Type.String({ format: 'date-time', description: 'ISO-8601 UTC' });
const literals = <T extends string>(values: readonly T[], description?: string) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    description === undefined ? {} : { description },
  );

export const TENANT_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$';

export const JobErrorSchema = Type.Object({
  code: Type.String({ description: 'stable code, e.g. timeout, worker_lost, permanent_error' }),
  message: Type.String(),
  retryable: Type.Boolean(),
});

export const JobSchema = Type.Object(
  {
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
    createdAt: isoTime,
    startedAt: nullable(isoTime),
    finishedAt: nullable(isoTime),
    nextAttemptAt: nullable(isoTime),
    cancelRequested: Type.Boolean(),
    estimatedWaitMs: Type.Optional(Type.Integer({ minimum: 0, description: 'while queued' })),
    deadLettered: Type.Boolean(),
  },
  { description: 'A job (SPEC §3)' },
);
// Compile-time guard: the published schema keeps every field of the JobView the code returns.
const _jobFields: Record<keyof JobView, unknown> = JobSchema.properties;
void _jobFields;

export const HistoryEntrySchema = Type.Object({
  seq: Type.Integer(),
  event: literals(JOB_EVENTS),
  status: literals(JOB_STATUSES),
  step: nullable(Type.String()),
  progress: Type.Number(),
  message: nullable(Type.String()),
  attempt: Type.Integer(),
  at: isoTime,
});

export const JobDetailSchema = Type.Unsafe({
  description: 'A job with its persisted step and progress history',
  allOf: [
    { $ref: '#/components/schemas/Job' },
    {
      type: 'object',
      required: ['history', 'historyTruncated', 'historyNext'],
      properties: {
        history: {
          type: 'array',
          maxItems: 100,
          description: 'the last 100 entries, oldest first',
          items: { $ref: '#/components/schemas/HistoryEntry' },
        },
        historyTruncated: { type: 'boolean', description: 'older entries exist than `history` holds' },
        historyNext: {
          type: ['string', 'null'],
          description: 'when truncated: the `GET /jobs/{id}/history` link that pages the whole history',
        },
      },
    },
  ],
});

export const SubmittedJobSchema = Type.Unsafe({
  description: 'A submitted job: new (202), or an existing one (200) with the reason',
  allOf: [
    { $ref: '#/components/schemas/Job' },
    {
      type: 'object',
      required: ['deduplicated', 'cached'],
      properties: {
        deduplicated: {
          type: 'boolean',
          description: 'an identical request within the window, or an idempotent replay',
        },
        cached: { type: 'boolean', description: 'answered from the result cache; no new work' },
      },
    },
  ],
});

export const HistoryPageSchema = Type.Object({
  items: Type.Array(ref('HistoryEntry'), { maxItems: 1000, description: 'oldest first' }),
  nextCursor: nullable(Type.String({ description: 'pass as `cursor` for the next page' })),
});

export const JobSummarySchema = Type.Object(
  {
    ...JobSchema.properties,
    payload: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), { description: 'with include=payload' }),
    ),
    result: Type.Optional(Type.Unknown({ description: 'with include=result' })),
  },
  { description: 'A job as lists show it: without `payload` and `result` unless `include` names them' },
);

export const JobSummaryListSchema = Type.Object({
  items: Type.Array(ref('JobSummary'), { maxItems: LIMITS.listLimitMax }),
  nextCursor: nullable(Type.String({ description: 'pass as `cursor` for the next page' })),
});

export const JobListSchema = Type.Object({
  items: Type.Array(ref('Job'), { maxItems: LIMITS.listLimitMax }),
  nextCursor: nullable(Type.String({ description: 'pass as `cursor` for the next page' })),
});

export function batchRequestSchema(maxItems: number) {
  return Type.Object(
    { jobs: Type.Array(ref('JobSubmission'), { minItems: 1, maxItems }) },
    {
      additionalProperties: false,
      description: `at most BATCH_MAX_ITEMS (${maxItems}) jobs; all or nothing`,
    },
  );
}

export const BatchResponseSchema = Type.Object({
  jobs: Type.Array(ref('SubmittedJob'), { description: 'in request order' }),
  estimatedTotalMs: Type.Integer({
    minimum: 0,
    description: 'until the last job of the batch is expected to finish',
  }),
});

export const ErrorSchema = Type.Object(
  {
    error: Type.Object({
      code: literals(Object.keys(API_ERRORS)),
      message: Type.String(),
      details: Type.Array(
        Type.Object({
          index: Type.Optional(Type.Integer({ minimum: 0, description: 'batch item' })),
          field: Type.Optional(Type.String()),
          message: Type.String(),
        }),
      ),
      correlationId: Type.String(),
    }),
  },
  { description: 'The one error shape of the API' },
);

export const ApiKeyRequestSchema = Type.Object(
  {
    tenant: Type.String({ pattern: TENANT_PATTERN, description: 'letters, digits, . _ -; at most 100' }),
    name: Type.String({ minLength: 1, maxLength: 200 }),
    scopes: Type.Array(literals(SCOPES), { minItems: 1, maxItems: SCOPES.length, uniqueItems: true }),
  },
  { additionalProperties: false },
);

export const ApiKeyCreatedSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  key: Type.String({ description: 'shown once; only its SHA-256 is stored' }),
  tenant: Type.String(),
  name: Type.String(),
  scopes: Type.Array(literals(SCOPES)),
  createdAt: isoTime,
});

export const CleanupRequestSchema = Type.Object(
  { olderThanDays: Type.Integer({ minimum: 0, maximum: 36500 }) },
  { additionalProperties: false },
);

export const CleanupResultSchema = Type.Object({
  deleted: Type.Integer({
    minimum: 0,
    description: 'terminal jobs purged (with their events and artifacts)',
  }),
});

export const FileSchema = Type.Object({
  fileId: Type.String({ format: 'uuid', description: 'reference it from a job payload as `fileId`' }),
  size: Type.Integer({ minimum: 0 }),
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  contentType: Type.String(),
  name: nullable(Type.String()),
  createdAt: isoTime,
});

export const JobTypeListSchema = Type.Object({
  items: Type.Array(
    Type.Object({
      type: Type.String(),
      queue: Type.String(),
      payloadSchema: Type.Record(Type.String(), Type.Unknown(), {
        description: 'JSON Schema of the payload',
      }),
      defaults: Type.Object({
        timeoutMs: nullable(Type.Integer()),
        maxAttempts: nullable(Type.Integer()),
        priority: Type.Union([Type.Integer({ minimum: 0, maximum: 9 }), Type.Literal('computed')]),
        cacheable: Type.Union([Type.Boolean(), Type.Literal('computed')]),
        retryTimeouts: Type.Boolean(),
      }),
    }),
  ),
});

export const QueueListSchema = Type.Object({
  items: Type.Array(
    Type.Object({
      queue: Type.String(),
      ready: Type.Integer({ minimum: 0 }),
      inFlight: Type.Integer({ minimum: 0 }),
      consumers: Type.Integer({ minimum: 0 }),
      oldestAgeMs: nullable(Type.Integer({ minimum: 0 })),
      completedPerMinute: Type.Number({ minimum: 0 }),
      estimatedWaitMs: nullable(Type.Integer({ minimum: 0 })),
      level: literals(
        ['ok', 'warning', 'critical'],
        'warning at QUEUE_WARN_DEPTH, critical at QUEUE_MAX_DEPTH',
      ),
    }),
  ),
});

export const StatsSchema = Type.Object({
  tenant: nullable(Type.String({ description: 'null: every tenant (admin)' })),
  counts: Type.Object({
    byStatus: Type.Record(Type.String(), Type.Integer()),
    byType: Type.Record(Type.String(), Type.Record(Type.String(), Type.Integer())),
  }),
  throughput: Type.Object({
    completedPerMinute: Type.Number(),
    completedLastMinute: Type.Integer(),
    failedLast5Minutes: Type.Integer(),
    submittedLastMinute: Type.Integer(),
  }),
  durationMs: Type.Object({
    p50: nullable(Type.Integer()),
    p90: nullable(Type.Integer()),
    p99: nullable(Type.Integer()),
    count: Type.Integer({ description: 'completed jobs in the last hour' }),
  }),
  cache: Type.Object({
    hits: Type.Integer(),
    misses: Type.Integer(),
    hitRate: nullable(Type.Number({ minimum: 0, maximum: 1 })),
    dedupHits: Type.Integer(),
  }),
});

const checkSchema = Type.Object({
  status: literals(['up', 'degraded', 'down']),
  latencyMs: Type.Optional(Type.Integer()),
  detail: Type.Optional(Type.String()),
});

export const HealthSchema = Type.Object({
  status: literals(['healthy', 'degraded', 'unhealthy']),
  checks: Type.Object({
    database: checkSchema,
    broker: checkSchema,
    redis: checkSchema,
    disk: checkSchema,
    workers: checkSchema,
    circuits: checkSchema,
  }),
});

export const JobEventSchema = Type.Object(
  {
    specversion: Type.Literal('1.0'),
    id: Type.String(),
    source: Type.String(),
    type: Type.String({ description: 'switchyard.job.<event>' }),
    subject: Type.String({ description: 'the job id' }),
    time: isoTime,
    correlationid: Type.String(),
    datacontenttype: Type.Literal('application/json'),
    data: Type.Object({
      jobId: Type.String(),
      tenant: Type.String(),
      type: Type.String(),
      queue: Type.String(),
      status: literals(JOB_STATUSES),
      step: nullable(Type.String()),
      progress: Type.Number(),
      message: nullable(Type.String()),
      attempt: Type.Integer(),
      seq: Type.Integer(),
      error: Type.Optional(JobErrorSchema),
      resultUrl: Type.Optional(Type.String()),
    }),
  },
  { description: 'A lifecycle CloudEvent (SPEC §5), the `data:` of SSE job events' },
);

/** Every component schema of the OpenAPI document. */
export function componentSchemas(batchMaxItems: number): Record<string, TSchema> {
  return {
    Job: JobSchema,
    JobError: JobErrorSchema,
    HistoryEntry: HistoryEntrySchema,
    JobDetail: JobDetailSchema,
    SubmittedJob: SubmittedJobSchema,
    JobList: JobListSchema,
    JobSummary: JobSummarySchema,
    JobSummaryList: JobSummaryListSchema,
    HistoryPage: HistoryPageSchema,
    JobSubmission: JobSubmissionSchema,
    BatchRequest: batchRequestSchema(batchMaxItems),
    BatchResponse: BatchResponseSchema,
    Error: ErrorSchema,
    ApiKeyRequest: ApiKeyRequestSchema,
    ApiKeyCreated: ApiKeyCreatedSchema,
    CleanupRequest: CleanupRequestSchema,
    CleanupResult: CleanupResultSchema,
    File: FileSchema,
    JobTypeList: JobTypeListSchema,
    QueueList: QueueListSchema,
    Stats: StatsSchema,
    Health: HealthSchema,
    JobEvent: JobEventSchema,
  };
}

export type ComponentName =
  | 'Job'
  | 'JobError'
  | 'HistoryEntry'
  | 'JobDetail'
  | 'SubmittedJob'
  | 'JobList'
  | 'JobSummary'
  | 'JobSummaryList'
  | 'HistoryPage'
  | 'JobSubmission'
  | 'BatchRequest'
  | 'BatchResponse'
  | 'Error'
  | 'ApiKeyRequest'
  | 'ApiKeyCreated'
  | 'CleanupRequest'
  | 'CleanupResult'
  | 'File'
  | 'JobTypeList'
  | 'QueueList'
  | 'Stats'
  | 'Health'
  | 'JobEvent';
