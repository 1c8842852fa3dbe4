import { Redis } from 'ioredis';

export interface CreateRedisOptions {
  /** Shown by `CLIENT LIST`, so an operator can tell which service holds a connection. */
  connectionName?: string;
  lazyConnect?: boolean;
  /** Receives connection errors (refused, reset, …); without it they are dropped, never thrown. */
  onError?: (err: Error) => void;
}

/** Commands queued while disconnected fail after this many reconnect attempts (fail fast, not hang). */
export const REDIS_MAX_RETRIES_PER_REQUEST = 2;
const RECONNECT_BASE_MS = 50;
const RECONNECT_MAX_MS = 2000;

/**
 * Delay before reconnect attempt `times` (1-based): exponential from 50 ms, capped at 2 s, never
 * giving up, so a service survives a Redis restart without being restarted itself.
 */
export function reconnectDelayMs(times: number): number {
  return Math.min(RECONNECT_BASE_MS * 2 ** Math.max(0, times - 1), RECONNECT_MAX_MS);
}

export function createRedis(url: string, options: CreateRedisOptions = {}): Redis {
  const redis = new Redis(url, {
    connectionName: options.connectionName,
    lazyConnect: options.lazyConnect ?? false,
    retryStrategy: reconnectDelayMs,
    maxRetriesPerRequest: REDIS_MAX_RETRIES_PER_REQUEST,
    enableOfflineQueue: true,
  });
  // An 'error' event without a listener would crash the process; callers see failures as rejected commands.
  const onError = options.onError ?? (() => undefined);
  redis.on('error', (err: Error) => onError(err));
  return redis;
}
