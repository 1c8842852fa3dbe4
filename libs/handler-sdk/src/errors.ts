// How a handler says what a failure means; the worker turns each into retry, wait or failure.

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

/**
 * The provider refused for its rate limit (HTTP 429, or `x-ratelimit-remaining: 0`) and said
 * when to come back. Not a failure of the job nor of the provider: the worker holds the job's rate
 * key fleet-wide for `retryAfterMs` (no job of the key is released meanwhile) and hands the job
 * back without spending an attempt. A job without a rate key waits `retryAfterMs` as `retrying`,
 * as with DeferredError.
 */
export class RateLimitedError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number,
    readonly code = 'rate_limited',
  ) {
    super(message);
    this.name = 'RateLimitedError';
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
