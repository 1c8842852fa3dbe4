import { Type, type Static } from '@sinclair/typebox';
import { TENANT_PATTERN } from './admin';
import { isoTime, literals, nextCursor, nullable } from './schema';

// Job logs, the usage ledger and tenant budgets (issue 21). Field names are public contract.

export const LOG_LEVELS = ['info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A usage unit: `tokens_in`, `cost_usd`, or any a job type reports. */
export const USAGE_UNIT_PATTERN = '^[a-z][a-z0-9_]{0,63}$';
export const USAGE_UNIT = /^[a-z][a-z0-9_]{0,63}$/;

/** One line a handler logged with `ctx.log`. */
export const JobLogLineSchema = Type.Object(
  {
    attempt: Type.Integer({ minimum: 1 }),
    level: literals(LOG_LEVELS),
    message: Type.String(),
    fields: nullable(Type.Record(Type.String(), Type.Unknown())),
    at: isoTime(),
  },
  { title: 'JobLogLine' },
);
export type JobLogLine = Static<typeof JobLogLineSchema>;

/** `GET /jobs/{id}/logs`: lines in the order they were logged, and what each attempt dropped. */
export const JobLogPageSchema = Type.Object(
  {
    items: Type.Array(JobLogLineSchema),
    nextCursor: nextCursor(),
    tailCursor: nullable(
      Type.String({
        description: 'after the last line so far: pass it later as `cursor` for lines logged since',
      }),
    ),
    dropped: Type.Array(
      Type.Object({ attempt: Type.Integer({ minimum: 1 }), lines: Type.Integer({ minimum: 1 }) }),
      { description: 'lines an attempt logged beyond JOB_LOG_MAX_LINES, counted, not kept' },
    ),
  },
  { title: 'JobLogPage' },
);
export type JobLogPage = Static<typeof JobLogPageSchema>;

/** The SSE `log` event of a job stream: lines as they are stored. */
export const JobLogEventSchema = Type.Object(
  { jobId: Type.String({ format: 'uuid' }), lines: Type.Array(JobLogLineSchema) },
  { title: 'JobLogEvent' },
);
export type JobLogEvent = Static<typeof JobLogEventSchema>;

export const USAGE_GROUPS = ['tenant', 'type', 'day'] as const;
export type UsageGroup = (typeof USAGE_GROUPS)[number];

/** `GET /usage`: sums per group (a tenant, a job type or a UTC day) and unit. */
export const UsageReportSchema = Type.Object(
  {
    groupBy: literals(USAGE_GROUPS),
    from: Type.String({ format: 'date', description: 'first UTC day counted' }),
    to: Type.String({ format: 'date', description: 'last UTC day counted' }),
    items: Type.Array(
      Type.Object({
        group: Type.String({ description: 'the tenant, job type or day (YYYY-MM-DD)' }),
        units: Type.Record(Type.String(), Type.Number(), { description: 'sum per unit' }),
        attempts: Type.Record(Type.String(), Type.Integer(), {
          description: 'job attempts that recorded each unit',
        }),
      }),
    ),
  },
  { title: 'UsageReport' },
);
export type UsageReport = Static<typeof UsageReportSchema>;

const BudgetSchema = Type.Object(
  { perMonth: Type.Number({ minimum: 0, description: 'the most a tenant may use per UTC calendar month' }) },
  { additionalProperties: false },
);

/**
 * `budgets` of `PUT /admin/tenants/{tenant}`: per unit (usually `cost_usd`), `null` removes one;
 * a unit absent keeps its budget.
 */
export const TenantBudgetsPatchSchema = Type.Record(
  Type.String({ pattern: USAGE_UNIT_PATTERN }),
  nullable(BudgetSchema),
  { maxProperties: 32, additionalProperties: false },
);

/** `PUT /admin/tenants/{tenant}`: every field optional; absent keeps its value. */
export const TenantSettingsRequestSchema = Type.Object(
  {
    budgets: Type.Optional(TenantBudgetsPatchSchema),
    weight: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1000,
        description:
          'fair-share weight (default 1): within a queue and effective priority, a tenant of weight 3 ' +
          'gets three releases per release of a tenant of weight 1 while both have backlog',
      }),
    ),
  },
  { title: 'TenantSettingsRequest', additionalProperties: false },
);
export type TenantSettingsRequest = Static<typeof TenantSettingsRequestSchema>;

/** `GET/PUT /admin/tenants/{tenant}`: the budgets with this month's use. */
export const TenantSettingsSchema = Type.Object(
  {
    tenant: Type.String({ pattern: TENANT_PATTERN }),
    weight: Type.Integer({ minimum: 1, description: 'fair-share weight (1 unless set)' }),
    budgets: Type.Record(
      Type.String(),
      Type.Object({
        perMonth: Type.Number(),
        used: Type.Number({ description: 'used this UTC month' }),
        resetsAt: isoTime('the start of the next UTC month'),
      }),
    ),
  },
  { title: 'TenantSettings' },
);
export type TenantSettings = Static<typeof TenantSettingsSchema>;
