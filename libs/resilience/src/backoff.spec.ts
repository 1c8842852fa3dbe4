import { backoffDelay, DEFAULT_BACKOFF } from './backoff';
import { isNetworkError, isRetryableStatus, parseRetryAfter } from './classify';

describe('backoffDelay', () => {
  it('follows min(maxMs, initialMs × factor^(attempt−1)) without jitter', () => {
    const none = { ...DEFAULT_BACKOFF, jitter: 0 };
    expect([1, 2, 3, 4, 7, 8].map((a) => backoffDelay(a, none))).toEqual([
      1000, 2000, 4000, 8000, 60000, 60000,
    ]);
  });

  it('stays within ±jitter', () => {
    expect(backoffDelay(2, DEFAULT_BACKOFF, () => 0)).toBe(1800);
    expect(backoffDelay(2, DEFAULT_BACKOFF, () => 1)).toBe(2200);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(3, DEFAULT_BACKOFF);
      expect(d).toBeGreaterThanOrEqual(3600);
      expect(d).toBeLessThanOrEqual(4400);
    }
  });
});

describe('classification', () => {
  it.each([
    [408, true],
    [429, true],
    [500, true],
    [503, true],
    [400, false],
    [404, false],
    [422, false],
  ])('HTTP %p retryable: %p', (status, retryable) => expect(isRetryableStatus(status)).toBe(retryable));

  it('finds network errors in fetch causes', () => {
    expect(isNetworkError(new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } }))).toBe(true);
    expect(isNetworkError(new Error('boom'))).toBe(false);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});
