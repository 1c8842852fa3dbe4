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

/**
 * AMQP_URL as a list: one URL, or the nodes of a cluster separated by commas, in the order
 * given (empty items dropped).
 */
export function amqpUrlList(url: string): string[] {
  return url
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

/**
 * The list rotated to start at a random node, so that the services of one installation spread
 * their connections over the cluster instead of all crowding its first node.
 */
export function rotatedUrlList(url: string, random: () => number = Math.random): string[] {
  const urls = amqpUrlList(url);
  const start = Math.floor(random() * urls.length) % Math.max(1, urls.length);
  return [...urls.slice(start), ...urls.slice(0, start)];
}

/** The URL (or each URL of a list) without its password, for logs and error messages. */
export function redactUrl(url: string): string {
  const urls = amqpUrlList(url);
  return urls.length > 1 ? urls.map(redactOne).join(', ') : redactOne(url);
}

function redactOne(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<invalid AMQP URL>';
  }
}
