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
