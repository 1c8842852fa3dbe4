import { MAX_RATE_LIMIT_HOLD_MS, parseRateLimitReset, rateLimitedFor } from './provider-client';

const headers = (h: Record<string, string>) => new Headers(h);

describe('provider rate-limit answers', () => {
  const now = Date.UTC(2026, 0, 1);

  it('reads x-ratelimit-reset as epoch seconds, seconds to wait, or a duration', () => {
    expect(parseRateLimitReset(String(now / 1000 + 5), now)).toBe(5000);
    expect(parseRateLimitReset('3', now)).toBe(3000);
    expect(parseRateLimitReset('1.5', now)).toBe(1500);
    expect(parseRateLimitReset('250ms', now)).toBe(250);
    expect(parseRateLimitReset('6m0s', now)).toBe(360_000);
    expect(parseRateLimitReset('1h2m3s', now)).toBe(3_723_000);
    expect(parseRateLimitReset('soon', now)).toBeUndefined();
    expect(parseRateLimitReset(' ', now)).toBeUndefined();
    expect(parseRateLimitReset(null, now)).toBeUndefined();
  });

  it('holds for a 429 or an exhausted budget that names its reset, Retry-After first', () => {
    expect(rateLimitedFor(429, headers({ 'retry-after': '3' }), now)).toBe(3000);
    expect(rateLimitedFor(429, headers({ 'retry-after': new Date(now + 4000).toUTCString() }), now)).toBe(
      4000,
    );
    expect(rateLimitedFor(429, headers({ 'retry-after': '2', 'x-ratelimit-reset': '9' }), now)).toBe(2000);
    expect(rateLimitedFor(429, headers({ 'x-ratelimit-reset': '9' }), now)).toBe(9000);
    expect(rateLimitedFor(403, headers({ 'x-ratelimit-remaining': '0', 'retry-after': '1' }), now)).toBe(
      1000,
    );
  });

  it('is no rate-limit answer without a reset, or for another refusal', () => {
    expect(rateLimitedFor(429, headers({}), now)).toBeUndefined();
    expect(rateLimitedFor(503, headers({ 'retry-after': '3' }), now)).toBeUndefined();
    expect(
      rateLimitedFor(403, headers({ 'x-ratelimit-remaining': '5', 'retry-after': '3' }), now),
    ).toBeUndefined();
  });

  it('caps a hold at MAX_RATE_LIMIT_HOLD_MS', () => {
    expect(rateLimitedFor(429, headers({ 'retry-after': '86400' }), now)).toBe(MAX_RATE_LIMIT_HOLD_MS);
  });
});
