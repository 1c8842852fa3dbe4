import type { TSchema } from '@sinclair/typebox';
import type { Logger } from 'pino';

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
  };
}

export interface ArtifactRef {
  jobId: string;
  name: string;
  contentType: string;
  size: number;
  sha256: string;
}

/** Where a handler writes result bytes; the gateway streams them from `GET /jobs/{id}/result`. */
export interface ArtifactWriter {
  put(name: string, contentType: string, data: Buffer | AsyncIterable<Buffer>): Promise<ArtifactRef>;
}

export interface JobContext<P = Record<string, unknown>> {
  jobId: string;
  tenant: string;
  /** 1 on the first run. */
  attempt: number;
  maxAttempts: number;
  payload: P;
  /** Fires on cancel, timeout and worker shutdown; handlers should stop soon after. */
  signal: AbortSignal;
  /** Reports progress 0–100 with an optional pipeline step and message. */
  progress(percent: number, step?: string, message?: string): void;
  logger: Logger;
  artifacts: ArtifactWriter;
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

/** A failure worth another attempt (network blip, overloaded provider). */
export class RetryableError extends Error {
  constructor(
    message: string,
    readonly code = 'retryable_error',
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'RetryableError';
  }
}

/**
 * Not this attempt's fault and not a failure of the job: the dependency it needs is unavailable
 * for a while (an open circuit). The job waits as `retrying` for `retryAfterMs` without spending
 * an attempt.
 */
export class DeferredError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number,
    readonly code = 'provider_unavailable',
  ) {
    super(message);
    this.name = 'DeferredError';
  }
}

/** A failure no retry can fix (bad input, 4xx from a provider). */
export class PermanentError extends Error {
  constructor(
    message: string,
    readonly code = 'permanent_error',
  ) {
    super(message);
    this.name = 'PermanentError';
  }
}

/** A handler of any payload type, as registries hold them. */
export type AnyJobHandler = JobHandler<never>;
export type AnyJobTypeDefinition = JobTypeDefinition<never>;

/** Evaluates a type's defaults for one (already validated) payload. */
export function resolveDefaults(
  definition: AnyJobTypeDefinition,
  payload: Record<string, unknown>,
): { priority?: number; cacheable: boolean; timeoutMs?: number; maxAttempts?: number } {
  const d = definition.defaults as JobTypeDefinition<Record<string, unknown>>['defaults'];
  return {
    priority: typeof d.priority === 'function' ? d.priority(payload) : d.priority,
    cacheable: typeof d.cacheable === 'function' ? d.cacheable(payload) : (d.cacheable ?? false),
    timeoutMs: d.timeoutMs,
    maxAttempts: d.maxAttempts,
  };
}
