import { Type, type Static } from '@sinclair/typebox';
import { LIMITS, JobSubmissionSchema } from '../job';
import { JOB_STATUSES } from '../job-status';
import { JobErrorSchema } from './job';
import { isoTime, literals, nextCursor, nullable } from './schema';

// Flow bodies of the REST API (SPEC §11): jobs that depend on jobs. Field names are public
// contract: never rename them.

/** What a flow job does when one of its dependencies failed or was cancelled. */
export const DEPENDENCY_FAILURE_RULES = ['fail', 'run', 'skip'] as const;
export type DependencyFailureRule = (typeof DEPENDENCY_FAILURE_RULES)[number];

/** A flow's status, derived from its jobs' states. */
export const FLOW_STATUSES = ['running', 'completed', 'failed', 'cancelled'] as const;
export type FlowStatus = (typeof FLOW_STATUSES)[number];

/** A ref names a job within its flow: letters, digits and `._:-`, starting with a letter or digit. */
export const FLOW_REF_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$';
export const FlowRefSchema = Type.String({ pattern: FLOW_REF_PATTERN, maxLength: 100 });

/** The most jobs `GET /flows/{id}` lists (a flow grows past FLOW_MAX_JOBS only by spawned children). */
export const FLOW_VIEW_JOBS_MAX = 5000;

/** One job of `POST /flows`: any `POST /jobs` field plus its ref, dependencies and failure rule. */
export const FlowJobSubmissionSchema = Type.Object(
  {
    ...JobSubmissionSchema.properties,
    ref: FlowRefSchema,
    dependsOn: Type.Optional(
      Type.Array(FlowRefSchema, {
        maxItems: 1000,
        uniqueItems: true,
        description: 'refs of jobs of the same flow that must finish first',
      }),
    ),
    onDependencyFailure: Type.Optional(
      literals(
        DEPENDENCY_FAILURE_RULES,
        'when a dependency fails or is cancelled: `fail` (default; this job fails with `dependency_failed`), ' +
          '`run` (runs anyway), `skip` (ends `cancelled` with reason `dependency_failed`)',
      ),
    ),
  },
  { title: 'FlowJobSubmission', additionalProperties: false },
);
export type FlowJobSubmission = Static<typeof FlowJobSubmissionSchema>;

/** `POST /flows`; `maxJobs` is the configured FLOW_MAX_JOBS. */
export function flowRequestSchema(maxJobs: number) {
  return Type.Object(
    {
      name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
      metadata: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
      jobs: Type.Array(FlowJobSubmissionSchema, { minItems: 1, maxItems: maxJobs }),
    },
    {
      title: 'FlowRequest',
      additionalProperties: false,
      description: `at most FLOW_MAX_JOBS (${maxJobs}) jobs; validated as a whole and created all or nothing`,
    },
  );
}
export type FlowRequest = Static<ReturnType<typeof flowRequestSchema>>;

/** One job as a flow lists it. */
export const FlowJobViewSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    ref: Type.String(),
    type: Type.String(),
    queue: Type.String(),
    status: literals(JOB_STATUSES),
    step: nullable(Type.String()),
    progress: Type.Number({ minimum: 0, maximum: 100 }),
    attempts: Type.Integer({ minimum: 0 }),
    dependsOn: Type.Array(Type.String(), { description: 'refs of its dependencies' }),
    onDependencyFailure: literals(DEPENDENCY_FAILURE_RULES),
    spawnedBy: nullable(Type.String({ format: 'uuid', description: 'the job whose handler spawned it' })),
    error: nullable(JobErrorSchema),
    createdAt: isoTime(),
    startedAt: nullable(isoTime()),
    finishedAt: nullable(isoTime()),
  },
  { title: 'FlowJob' },
);
export type FlowJobView = Static<typeof FlowJobViewSchema>;

const countsSchema = Type.Record(Type.String(), Type.Integer({ minimum: 0 }), {
  description: 'jobs per state (states with none are absent)',
});

const flowFields = {
  id: Type.String({ format: 'uuid' }),
  tenant: Type.String(),
  name: nullable(Type.String()),
  metadata: Type.Record(Type.String(), Type.Unknown()),
  status: literals(
    FLOW_STATUSES,
    '`running` while any job is unfinished; then `failed` if any job failed, `cancelled` if any was cancelled, else `completed`',
  ),
  idempotencyKey: nullable(Type.String()),
  counts: countsSchema,
  total: Type.Integer({ minimum: 0, description: 'jobs in the flow' }),
  createdAt: isoTime(),
  finishedAt: nullable(isoTime('when the last job finished (while not running)')),
};

/** `GET /flows/{id}`: the flow with every job (at most FLOW_VIEW_JOBS_MAX), dependencies first. */
export const FlowViewSchema = Type.Object(
  {
    ...flowFields,
    jobs: Type.Array(FlowJobViewSchema, {
      maxItems: FLOW_VIEW_JOBS_MAX,
      description: 'in dependency order (a job after every job it depends on)',
    }),
    jobsTruncated: Type.Boolean({ description: `the flow has more than ${FLOW_VIEW_JOBS_MAX} jobs` }),
  },
  { title: 'Flow' },
);
export type FlowView = Static<typeof FlowViewSchema>;

/** `POST /flows`: the flow, new (202) or an idempotent replay (200, `deduplicated`). */
export const SubmittedFlowSchema = Type.Intersect(
  [FlowViewSchema, Type.Object({ deduplicated: Type.Boolean() })],
  { title: 'SubmittedFlow' },
);
export type SubmittedFlow = Static<typeof SubmittedFlowSchema>;

export const FlowSummarySchema = Type.Object(flowFields, { title: 'FlowSummary' });
export type FlowSummary = Static<typeof FlowSummarySchema>;

/** `GET /flows`. */
export const FlowPageSchema = Type.Object(
  { items: Type.Array(FlowSummarySchema, { maxItems: LIMITS.listLimitMax }), nextCursor: nextCursor() },
  { title: 'FlowList' },
);
export type FlowPage = Static<typeof FlowPageSchema>;

/** `DELETE /flows/{id}` and `POST /flows/{id}/retry`: what changed. */
export const FlowActionResultSchema = Type.Object(
  {
    flow: FlowSummarySchema,
    cancelled: Type.Optional(Type.Integer({ minimum: 0, description: 'jobs cancelled at once' })),
    cancelRequested: Type.Optional(
      Type.Integer({ minimum: 0, description: 'running jobs asked to stop (they end `cancelled`)' }),
    ),
    retried: Type.Optional(
      Type.Integer({ minimum: 0, description: 'jobs put back: the failed ones and everything downstream' }),
    ),
  },
  { title: 'FlowActionResult' },
);
export type FlowActionResult = Static<typeof FlowActionResultSchema>;
