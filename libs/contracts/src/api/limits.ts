import { Type, type Static } from '@sinclair/typebox';
import { LIMITS } from '../job';

// Flow control bodies (SPEC §11): per-key concurrency limits and provider rate budgets. Field
// names are public contract.

/** Longest concurrency key (what `concurrencyKey` on a submission accepts). */
export const CONCURRENCY_KEY_MAX = LIMITS.concurrencyKeyLength;

/** `PUT /limits/concurrency/{key}`. */
export const ConcurrencyLimitRequestSchema = Type.Object(
  {
    max: Type.Integer({
      minimum: 0,
      maximum: 1000000,
      description: 'jobs of the key released or running at once, across every worker (0 holds them all)',
    }),
  },
  { title: 'ConcurrencyLimitRequest', additionalProperties: false },
);
export type ConcurrencyLimitRequest = Static<typeof ConcurrencyLimitRequestSchema>;

/** A concurrency key: its limit (null: none set) and its jobs now. */
export const ConcurrencyLimitSchema = Type.Object(
  {
    key: Type.String({ minLength: 1, maxLength: CONCURRENCY_KEY_MAX }),
    max: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
      description: 'the limit; null when none is set (the key’s jobs are not held back)',
    }),
    inUse: Type.Integer({
      minimum: 0,
      description: 'jobs of the key released to a worker, running, or retrying (a retry keeps its slot)',
    }),
    waiting: Type.Integer({ minimum: 0, description: 'queued jobs of the key held back in the backlog' }),
  },
  { title: 'ConcurrencyLimit' },
);
export type ConcurrencyLimitView = Static<typeof ConcurrencyLimitSchema>;

/** Longest rate key (a job type's `rateKey`, e.g. `provider:<name>`). */
export const RATE_KEY_MAX = LIMITS.concurrencyKeyLength;

/** Most jobs a rate budget allows a minute, and the largest burst. */
export const RATE_LIMIT_MAX = 1000000;

/**
 * The burst of a rate budget set without one: one second's worth of `perMinute` (at least 1), so
 * the key's jobs are released evenly rather than a whole minute's budget at once.
 */
export function defaultBurst(perMinute: number): number {
  return Math.max(1, Math.ceil(perMinute / 60));
}

/** `PUT /limits/rate/{key}`. */
export const RateLimitRequestSchema = Type.Object(
  {
    perMinute: Type.Integer({
      minimum: 0,
      maximum: RATE_LIMIT_MAX,
      description: 'jobs of the key released per minute, across every gateway (0 holds them all)',
    }),
    burst: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: RATE_LIMIT_MAX,
        description:
          'most jobs of the key released at once after a quiet spell (the token bucket’s size); default: ' +
          'one second’s worth of perMinute, at least 1',
      }),
    ),
  },
  { title: 'RateLimitRequest', additionalProperties: false },
);
export type RateLimitRequest = Static<typeof RateLimitRequestSchema>;

/** A rate key: its budget (null: none set), its bucket and hold now, and its waiting jobs. */
export const RateLimitSchema = Type.Object(
  {
    key: Type.String({ minLength: 1, maxLength: RATE_KEY_MAX }),
    perMinute: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
      description: 'the budget; null when none is set (the key’s jobs are released freely unless held)',
    }),
    burst: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], {
      description: 'the token bucket’s size; null when no budget is set',
    }),
    tokens: Type.Union([Type.Number({ minimum: 0 }), Type.Null()], {
      description: 'jobs the key may release now (whole tokens count); null when no budget is set',
    }),
    heldUntil: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description:
        'a provider’s 429 holds the key until then (nothing is released before); null when not held',
    }),
    waiting: Type.Integer({ minimum: 0, description: 'queued jobs of the key held back in the backlog' }),
  },
  { title: 'RateLimit' },
);
export type RateLimitView = Static<typeof RateLimitSchema>;

/** `GET /limits`: every key that has a limit or active jobs. */
export const LimitListSchema = Type.Object(
  {
    concurrency: Type.Array(ConcurrencyLimitSchema, {
      maxItems: 1000,
      description: 'keys with a limit or with jobs in use or waiting (at most 1000, by key)',
    }),
    rate: Type.Array(RateLimitSchema, {
      maxItems: 1000,
      description: 'rate keys with a budget, a hold now, or jobs waiting (at most 1000, by key)',
    }),
  },
  { title: 'LimitList' },
);
export type LimitList = Static<typeof LimitListSchema>;
