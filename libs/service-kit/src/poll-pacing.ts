/**
 * How many times its own duration a background aggregate poll waits before it runs again.
 * The queue monitors count the backlog, the released, running and recent jobs per queue; those
 * counts grow with the backlog (PostgreSQL visits every queued row's heap tuple while the
 * visibility map lags behind the churn: ~55 ms at 20,000 queued jobs, several hundred at 100,000),
 * so a fixed one-second poll would take a growing share of the database exactly when the backlog
 * is largest. Waiting 20 × the last duration keeps a poll's share of one connection under 5 %.
 */
export const POLL_COST_FACTOR = 20;

/** However slow the polls get, the figures they feed are never older than this. */
export const POLL_MAX_DELAY_MS = 30_000;

/**
 * The delay before the next poll: `intervalMs` normally, longer while the last poll took more than
 * 1 / POLL_COST_FACTOR of it, never more than POLL_MAX_DELAY_MS (or `intervalMs` if larger).
 */
export function pollDelay(intervalMs: number, lastDurationMs: number): number {
  const paced = Math.ceil(Math.max(0, lastDurationMs) * POLL_COST_FACTOR);
  return Math.max(intervalMs, Math.min(paced, POLL_MAX_DELAY_MS));
}
