import { Type, type Static } from '@sinclair/typebox';
import { LIMITS } from '../job';

// Flow control bodies (SPEC §11): per-key concurrency limits. Field names are public contract.

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

/** `GET /limits`: every key that has a limit or active jobs. */
export const LimitListSchema = Type.Object(
  {
    concurrency: Type.Array(ConcurrencyLimitSchema, {
      maxItems: 1000,
      description: 'keys with a limit or with jobs in use or waiting (at most 1000, by key)',
    }),
  },
  { title: 'LimitList' },
);
export type LimitList = Static<typeof LimitListSchema>;
