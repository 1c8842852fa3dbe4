import type { TSchema } from '@sinclair/typebox';
import type { ArtifactRef, JobContext } from './context';

/**
 * The handler SDK: one module per job type. A definition (type, queue, schema, defaults) is all
 * the gateway needs; the worker also calls `handle`.
 */
export interface JobTypeDefinition<P = Record<string, unknown>> {
  /** Wire name of the type; clients submit it. Never rename a published type. */
  type: string;
  /** Work queue the type runs on (one of the declared queues). */
  queue: string;
  /** JSON Schema of the payload; every string and array must be bounded. */
  payloadSchema: TSchema;
  defaults: {
    timeoutMs?: number;
    maxAttempts?: number;
    /** A fixed priority or one computed from the payload (e.g. small files first). */
    priority?: number | ((payload: P) => number);
    /** Whether an identical request may be answered from the result cache. */
    cacheable?: boolean | ((payload: P) => boolean);
    /** Whether a timeout counts as retryable for this type (default: not). */
    retryTimeouts?: boolean;
    /**
     * Declared long-running (seconds or more): its jobs go one per work message. Short types (no
     * `long`, no declared timeout above 10 s, no concurrency or rate key) are dispatched up to
     * DISPATCH_BATCH_MAX jobs per message (docs/architecture.md, "Batched dispatch").
     */
    long?: boolean;
    /**
     * Per-key concurrency: the key of a job submitted without `concurrencyKey`, fixed or derived
     * from the payload (e.g. `model:<name>`); undefined: no key. The key's limit is set at run time
     * (`PUT /api/v1/limits/concurrency/{key}`).
     */
    concurrencyKey?: string | ((payload: P) => string | undefined);
    /**
     * Provider rate budgets: the rate key of a job, fixed or derived from the payload (e.g.
     * `provider:<name>`); undefined: none. Rated jobs are released within the key's budget
     * (`PUT /api/v1/limits/rate/{key}`) and not while a provider's 429 holds the key (a handler
     * says so with RateLimitedError).
     */
    rateKey?: string | ((payload: P) => string | undefined);
  };
}

/** What `handle` returns: inline JSON, plus the artifact when the result is bytes. */
export interface HandlerOutput {
  result: unknown;
  artifact?: ArtifactRef;
}

export interface JobHandler<P = Record<string, unknown>> extends JobTypeDefinition<P> {
  handle(ctx: JobContext<P>): Promise<HandlerOutput>;
}

/** Identity helper that keeps the payload type between schema and handler. */
export function defineHandler<P>(handler: JobHandler<P>): JobHandler<P> {
  return handler;
}

/** A handler of any payload type, as registries hold them. */
export type AnyJobHandler = JobHandler<never>;
export type AnyJobTypeDefinition = JobTypeDefinition<never>;

/** Evaluates a type's defaults for one (already validated) payload. */
export function resolveDefaults(
  definition: AnyJobTypeDefinition,
  payload: Record<string, unknown>,
): {
  priority?: number;
  cacheable: boolean;
  timeoutMs?: number;
  maxAttempts?: number;
  concurrencyKey?: string;
  rateKey?: string;
} {
  const d = definition.defaults as JobTypeDefinition<Record<string, unknown>>['defaults'];
  return {
    priority: typeof d.priority === 'function' ? d.priority(payload) : d.priority,
    cacheable: typeof d.cacheable === 'function' ? d.cacheable(payload) : (d.cacheable ?? false),
    timeoutMs: d.timeoutMs,
    maxAttempts: d.maxAttempts,
    concurrencyKey: typeof d.concurrencyKey === 'function' ? d.concurrencyKey(payload) : d.concurrencyKey,
    rateKey: typeof d.rateKey === 'function' ? d.rateKey(payload) : d.rateKey,
  };
}
