import { Type, type Static } from '@sinclair/typebox';
import { MAX_PRIORITY, MIN_PRIORITY, PRIORITY_NAMES } from './priority';

/** Upper bounds that every request schema shares (SPEC §4 "Limits"). */
export const LIMITS = {
  typeLength: 100,
  idempotencyKeyLength: 200,
  metadataBytes: 8192,
  webhookUrlLength: 2048,
  maxAttempts: 20,
  listLimitMax: 200,
  listLimitDefault: 50,
  concurrencyKeyLength: 128,
} as const;

export const PrioritySchema = Type.Union(
  [
    Type.Integer({ minimum: MIN_PRIORITY, maximum: MAX_PRIORITY }),
    Type.Union(Object.keys(PRIORITY_NAMES).map((name) => Type.Literal(name))),
  ],
  { description: '0–9 (9 most urgent) or low=2, normal=5, high=7, critical=9' },
);

/** The longest `delayMs` a submission may ask for (2^31 - 1 ms, about 24.8 days). */
export const MAX_DELAY_MS = 2147483647;

/** Body of `POST /api/v1/jobs`, one item of a batch, and the intake message body. */
export const JobSubmissionSchema = Type.Object(
  {
    type: Type.String({ minLength: 1, maxLength: LIMITS.typeLength }),
    payload: Type.Record(Type.String(), Type.Unknown(), { description: 'validated by the job type schema' }),
    priority: Type.Optional(PrioritySchema),
    idempotencyKey: Type.Optional(Type.String({ minLength: 1, maxLength: LIMITS.idempotencyKeyLength })),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
    maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.maxAttempts })),
    metadata: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    dedupe: Type.Optional(Type.Boolean()),
    runAt: Type.Optional(
      Type.String({
        format: 'date-time',
        description:
          'ISO-8601: the job stays `scheduled` until then (not with delayMs); a past time means now',
      }),
    ),
    delayMs: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: MAX_DELAY_MS,
        description: 'the job stays `scheduled` this long (not with runAt); 0 means now',
      }),
    ),
    concurrencyKey: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: LIMITS.concurrencyKeyLength,
        description:
          'per-key concurrency: at most the key’s limit (`PUT /limits/concurrency/{key}`) of its jobs are ' +
          'released or running at once, across every worker; overrides the job type’s default key',
      }),
    ),
    webhookUrl: Type.Optional(
      Type.String({
        maxLength: LIMITS.webhookUrlLength,
        pattern: '^[hH][tT][tT][pP][sS]?://',
        description:
          'where this job’s webhook deliveries go instead of the URL of the endpoint of the same origin ' +
          '(scheme, host and port): must share its origin with one of the tenant’s enabled webhook endpoints',
      }),
    ),
  },
  { additionalProperties: false },
);
export type JobSubmission = Static<typeof JobSubmissionSchema>;

/** Whether `value` is a UUID in its textual form (job ids, file ids); any letter case. */
export function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}
