import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { waitFor } from '@switchyard/testing';
import { AdmissionStore, type AdmissionRequest } from './admission.store';
import { ChannelSubscriber } from './channel-subscriber';
import { TokenBucketLimiter } from './rate-limiter';
import { createRedis } from './redis';

const REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const prefix = `sytest:${randomUUID().slice(0, 8)}:`;

let redis: Redis;
let other: Redis;

beforeAll(() => {
  redis = createRedis(REDIS_URL, { connectionName: `${prefix}a` });
  other = createRedis(REDIS_URL, { connectionName: `${prefix}b` });
});

afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await Promise.all([redis.quit(), other.quit()]);
});

describe('TokenBucketLimiter (real Redis)', () => {
  it('allows the burst, then refuses with the wait until the next token, shared by two clients', async () => {
    const a = new TokenBucketLimiter(redis);
    const b = new TokenBucketLimiter(other);
    const key = `${prefix}rl:write:k1`;
    const policy = { capacity: 5, perMinute: 60 };
    const decisions = [];
    for (let i = 0; i < 8; i++) decisions.push(await (i % 2 ? a : b).take(key, policy));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false, false, false]);
    expect(decisions[0]).toMatchObject({ limit: 5, remaining: 4, retryAfterMs: 0 });
    const refused = decisions[6];
    expect(refused.remaining).toBe(0);
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(1000);
    expect(refused.resetMs).toBeGreaterThan(4000);
    expect(await redis.pttl(key)).toBeGreaterThan(0);
  });

  it('refills with time and keeps buckets apart', async () => {
    const limiter = new TokenBucketLimiter(redis);
    // One token a second: the three takes below fit in that however slow the machine is (at 100 a
    // second, a 10 ms pause between two of them refilled a token and the third was allowed).
    const policy = { capacity: 2, perMinute: 60 };
    const key = `${prefix}rl:write:k2`;
    await limiter.take(key, policy);
    await limiter.take(key, policy);
    const refused = await limiter.take(key, policy);
    expect(refused.allowed).toBe(false);
    expect((await limiter.take(`${prefix}rl:write:k3`, policy)).allowed).toBe(true);
    // The refill: allowed again once a token came back, within the wait the refusal named.
    const started = Date.now();
    await waitFor(async () => (await limiter.take(key, policy)).allowed, {
      timeoutMs: 3000,
      intervalMs: 100,
      what: 'a refilled token',
    });
    expect(Date.now() - started).toBeLessThanOrEqual(refused.retryAfterMs + 1000);
  });
});

describe('AdmissionStore (real Redis)', () => {
  const store = () => new AdmissionStore(redis, { prefix, idempotencyTtlSeconds: 60, dedupWindowMs: 300 });
  const request = (overrides: Partial<AdmissionRequest> = {}): AdmissionRequest => ({
    tenant: 't1',
    newJobId: randomUUID(),
    fingerprint: 'fp1',
    requestHash: `h-${randomUUID()}`,
    useCache: false,
    useDedup: true,
    ...overrides,
  });

  it('reserves the dedup window for the first request and answers the second with its job', async () => {
    const s = store();
    const first = request();
    const second = { ...first, newJobId: randomUUID() };
    expect((await s.admit(first)).kind).toBe('new');
    expect(await s.admit(second)).toEqual({ kind: 'deduplicated', jobId: first.newJobId });
    expect((await s.admit({ ...second, tenant: 't2' })).kind).toBe('new');
    expect((await s.admit({ ...second, useDedup: false })).kind).toBe('new');
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect((await s.admit(second)).kind).toBe('new');
  });

  it('names the original job and fingerprint for a known idempotency key, atomically under concurrency', async () => {
    const s = store();
    const base = request({ idempotencyKeyHash: 'k-hash', useDedup: false });
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, (_, i) => s.admit({ ...base, newJobId: `job-${i}` })),
    );
    const created = outcomes.filter((o) => o.kind === 'new');
    expect(created).toHaveLength(1);
    const winner = `job-${outcomes.findIndex((o) => o.kind === 'new')}`;
    for (const o of outcomes.filter((x) => x.kind !== 'new')) {
      expect(o).toEqual({ kind: 'idempotent', jobId: winner, fingerprint: 'fp1' });
    }
  });

  it('answers from the first-level cache and points the idempotency key at the cached job', async () => {
    const s = store();
    const r = request({ useCache: true, idempotencyKeyHash: 'k-cache' });
    await s.rememberCached('t1', r.requestHash, 'job-done', new Date(Date.now() + 60000));
    expect(await s.admit(r)).toEqual({ kind: 'cached', jobId: 'job-done' });
    expect(await s.admit({ ...r, useCache: false })).toEqual({
      kind: 'idempotent',
      jobId: 'job-done',
      fingerprint: 'fp1',
    });
  });

  it('releases only its own reservations', async () => {
    const s = store();
    const r = request({ idempotencyKeyHash: 'k-release' });
    const outcome = await s.admit(r);
    if (outcome.kind !== 'new') throw new Error('expected new');
    expect(outcome.reservations).toHaveLength(2);
    await s.release([{ key: outcome.reservations[0].key, value: 'someone-else' }]);
    expect((await s.admit({ ...r, newJobId: randomUUID() })).kind).toBe('idempotent');
    await s.release(outcome.reservations);
    expect((await s.admit({ ...r, newJobId: randomUUID() })).kind).toBe('new');
  });

  it('counts per tenant and sums over tenants', async () => {
    const s = store();
    await s.count('a', 'cache_hits', 2);
    await s.count('b', 'cache_hits');
    await s.count('a', 'dedup_hits');
    expect(await s.counters('a')).toEqual({ cache_hits: 2, cache_misses: 0, dedup_hits: 1 });
    expect((await s.counters()).cache_hits).toBe(3);
  });
});

describe('ChannelSubscriber (real Redis)', () => {
  it('delivers messages published after subscribe resolves, on one connection for many handlers', async () => {
    const connection = createRedis(REDIS_URL, { connectionName: `${prefix}sub` });
    const subscriber = new ChannelSubscriber(connection);
    const channel = `${prefix}events`;
    const got: string[][] = [[], []];
    const handlers = got.map((list) => (m: string) => list.push(m));
    await Promise.all(handlers.map((h) => subscriber.subscribe(channel, h)));
    await redis.publish(channel, 'one');
    await waitUntil(() => got.every((list) => list.length === 1));
    await subscriber.unsubscribe(channel, handlers[0]);
    await redis.publish(channel, 'two');
    await waitUntil(() => got[1].length === 2);
    expect(got).toEqual([['one'], ['one', 'two']]);
    subscriber.close();
  });
});

async function waitUntil(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
