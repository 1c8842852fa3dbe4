import { createRedis, reconnectDelayMs, REDIS_MAX_RETRIES_PER_REQUEST } from './redis';

describe('reconnectDelayMs', () => {
  it('backs off exponentially and caps at 2 s', () => {
    expect([1, 2, 3, 4, 5, 6].map(reconnectDelayMs)).toEqual([50, 100, 200, 400, 800, 1600]);
    expect(reconnectDelayMs(7)).toBe(2000);
  });

  it('never gives up (a number, never null), even after very many attempts', () => {
    expect(reconnectDelayMs(10_000)).toBe(2000);
    expect(reconnectDelayMs(Number.MAX_SAFE_INTEGER)).toBe(2000);
  });
});

describe('createRedis', () => {
  it('configures fail-fast commands, the offline queue, reconnects forever and the connection name', () => {
    const redis = createRedis('redis://127.0.0.1:6379/0', { connectionName: 'unit-test', lazyConnect: true });
    try {
      expect(redis.status).toBe('wait');
      expect(redis.options.connectionName).toBe('unit-test');
      expect(redis.options.maxRetriesPerRequest).toBe(REDIS_MAX_RETRIES_PER_REQUEST);
      expect(redis.options.enableOfflineQueue).toBe(true);
      expect(redis.options.retryStrategy?.(100)).toBe(2000);
    } finally {
      redis.disconnect();
    }
  });

  it('does not throw on an error event and hands it to onError', () => {
    const errors: Error[] = [];
    const redis = createRedis('redis://127.0.0.1:6379', {
      lazyConnect: true,
      onError: (e) => errors.push(e),
    });
    try {
      const boom = new Error('ECONNREFUSED');
      expect(() => redis.emit('error', boom)).not.toThrow();
      expect(errors).toEqual([boom]);
    } finally {
      redis.disconnect();
    }
  });

  it('does not throw on an error event without onError', () => {
    const redis = createRedis('redis://127.0.0.1:6379', { lazyConnect: true });
    try {
      expect(() => redis.emit('error', new Error('ECONNRESET'))).not.toThrow();
    } finally {
      redis.disconnect();
    }
  });
});
