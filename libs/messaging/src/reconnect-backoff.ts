import { backoffDelay } from '@switchyard/resilience';

export const DEFAULT_RECONNECT_MIN_MS = 200;
export const DEFAULT_RECONNECT_MAX_MS = 5000;

/**
 * The delay after the nth consecutive failed attempt (0-based): resilience's exponential backoff
 * from minMs, capped at maxMs, with ±20 % jitter so that services that lost the broker together do
 * not reconnect in lockstep.
 */
export function reconnectDelay(
  attempt: number,
  minMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const delay = backoffDelay(attempt + 1, { initialMs: minMs, factor: 2, maxMs, jitter: 0.2 }, random);
  return Math.min(maxMs, delay);
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
