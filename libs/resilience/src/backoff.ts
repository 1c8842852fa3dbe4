/** SPEC §6 retry backoff: `min(maxMs, initialMs × factor^(attempt−1)) × (1 ± jitter)`. */
export interface BackoffOptions {
  initialMs: number;
  factor: number;
  maxMs: number;
  /** Fraction, e.g. 0.1 for ±10 %. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1000, factor: 2, maxMs: 60000, jitter: 0.1 };

/**
 * Delay before the next attempt after `attempt` (1-based) failed. `random` is injectable so tests
 * can pin the jitter.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const base = Math.min(options.maxMs, options.initialMs * options.factor ** Math.max(0, attempt - 1));
  const spread = (random() * 2 - 1) * options.jitter;
  return Math.max(0, Math.round(base * (1 + spread)));
}
