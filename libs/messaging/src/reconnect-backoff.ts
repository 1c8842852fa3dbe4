export const DEFAULT_RECONNECT_MIN_MS = 200;
export const DEFAULT_RECONNECT_MAX_MS = 5000;

/**
 * Exponential backoff for the nth consecutive failed attempt (0-based), capped at maxMs, with
 * ±20 % jitter so that services that lost the broker together do not reconnect in lockstep.
 */
export function reconnectDelay(
  attempt: number,
  minMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.round(Math.min(maxMs, base * (0.8 + 0.4 * random())));
}

/** The URL without its password, for logs and error messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<invalid AMQP URL>';
  }
}
