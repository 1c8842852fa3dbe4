import { randomBytes, randomUUID } from 'node:crypto';
import { AdmissionStore } from './admission.store';
import { LiveProgressStore } from './live-progress.store';
import { TokenBucketLimiter } from './rate-limiter';
import { createRedis } from './redis';

/**
 * Retention of Redis (SPEC §8 "Redis keys expire"): every key that live-state writes carries a
 * TTL, so nothing in Redis outlives its purpose when nobody deletes it.
 */
describe('Redis keys written by live-state expire', () => {
  const prefix = `sytest_${randomBytes(4).toString('hex')}:`;
  const redis = createRedis(process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379');

  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  it('gives every key a TTL', async () => {
    const live = new LiveProgressStore(redis, { prefix, ttlSeconds: 600 });
    // A job's live state and event log, and (a start) the queue's rate counter (QueueRates).
    await live.applyEvents(
      (['progress', 'started'] as const).map((event) => ({
        event,
        time: new Date().toISOString(),
        correlationId: 'corr',
        data: {
          jobId: randomUUID(),
          tenant: 'acme',
          type: 'synthetic',
          queue: 'default',
          status: 'running',
          step: null,
          progress: 10,
          message: null,
          attempt: 1,
          seq: 2,
        },
      })),
    );
    const admission = new AdmissionStore(redis, { prefix, idempotencyTtlSeconds: 600, dedupWindowMs: 60000 });
    await admission.admit({
      tenant: 'acme',
      newJobId: randomUUID(),
      fingerprint: 'f',
      requestHash: 'r1',
      idempotencyKeyHash: 'k1',
      useCache: true,
      useDedup: true,
    });
    await admission.rememberIdempotent('acme', 'k2', randomUUID(), 'f2');
    await admission.rememberCached('acme', 'r2', randomUUID(), new Date(Date.now() + 60000));
    await admission.count('acme', 'cache_hits');
    await new TokenBucketLimiter(redis).take(`${prefix}rl:write:key`, { capacity: 10, perMinute: 60 });

    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    // Live progress and events (two jobs), a rate counter, idempotency (2), dedup, result cache,
    // stats, token bucket.
    expect(keys.length).toBeGreaterThanOrEqual(11);
    const withoutTtl: string[] = [];
    for (const key of keys) if ((await redis.pttl(key)) < 0) withoutTtl.push(key);
    expect(withoutTtl).toEqual([]);
  });
});
