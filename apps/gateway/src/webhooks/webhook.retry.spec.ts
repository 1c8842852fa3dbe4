import { parseCorsOrigins } from '../browser/cors';
import { retryDelayMs } from './webhook.deliverer';
import { parseRetryAfter } from './webhook.sender';

describe('webhook retry timing', () => {
  it('doubles from the base per attempt within ±10 %, capped at one hour', () => {
    const low = () => 0;
    const high = () => 1;
    expect(retryDelayMs(5000, 1, 0, low)).toBe(4500);
    expect(retryDelayMs(5000, 1, 0, high)).toBe(5500);
    expect(retryDelayMs(5000, 3, 0, low)).toBe(18000);
    expect(retryDelayMs(5000, 30, 0, high)).toBe(3960000);
  });

  it('never retries sooner than Retry-After', () => {
    expect(retryDelayMs(500, 1, 2000, () => 1)).toBe(2000);
    expect(retryDelayMs(5000, 2, 2000, () => 0)).toBe(9000);
  });

  it('reads Retry-After as seconds or an HTTP date, bounded', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('2', now)).toBe(2000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30000);
    expect(parseRetryAfter('999999', now)).toBe(3600000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});

describe('CORS_ORIGINS', () => {
  it('is a set of exact origins; empty allows none', () => {
    expect(parseCorsOrigins('')).toEqual(new Set());
    expect(parseCorsOrigins(' https://a.example.com/, http://127.0.0.1:8080 ,')).toEqual(
      new Set(['https://a.example.com', 'http://127.0.0.1:8080']),
    );
  });
});
