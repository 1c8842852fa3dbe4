import { randomUUID } from 'node:crypto';
import type { JobEventName } from '@switchyard/contracts';
import type { Redis } from 'ioredis';
import type { JobEventInput } from './live-progress';
import { LiveProgressStore } from './live-progress.store';
import { QueueRates, RATE_BUCKET_MS, RATE_WINDOW_MAX_S } from './queue-rates';
import { createRedis } from './redis';

const prefix = `sytest:${randomUUID().slice(0, 8)}:`;
/** Half a bucket past a bucket's start, so the windows' first buckets are cut. */
const NOW = 400_000 * RATE_BUCKET_MS + RATE_BUCKET_MS / 2;

let redis: Redis;
let store: LiveProgressStore;
let rates: QueueRates;

beforeAll(() => {
  redis = createRedis('redis://127.0.0.1:6379', { connectionName: `${prefix}rates` });
  store = new LiveProgressStore(redis, { prefix, ttlSeconds: 600 });
  rates = new QueueRates(redis, prefix);
});

afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

function event(queue: string, name: JobEventName, agoMs: number, seq = 1): JobEventInput {
  return {
    event: name,
    time: new Date(NOW - agoMs).toISOString(),
    correlationId: 'corr',
    data: {
      jobId: randomUUID(),
      tenant: 'acme',
      type: 'synthetic',
      queue,
      status: 'running',
      step: null,
      progress: 0,
      message: null,
      attempt: 1,
      seq,
    },
  };
}

describe('QueueRates (real Redis)', () => {
  it('counts the starts and final outcomes that applying events saw, per queue and window', async () => {
    const [queue, other, idle] = ['a', 'b', 'c'].map((q) => `${q}-${randomUUID().slice(0, 6)}`);
    const events = [
      ...Array.from({ length: 3 }, () => event(queue, 'started', 1_000)),
      event(queue, 'started', 70_000), // outside the 60 s start window
      event(queue, 'completed', 100_000),
      event(queue, 'failed', 200_000),
      event(queue, 'completed', 400_000), // outside the 300 s window
      // Not starts or final outcomes.
      event(queue, 'queued', 0),
      event(queue, 'progress', 0, 2),
      event(queue, 'retrying', 0, 3),
      event(queue, 'cancelled', 0, 4),
      event(other, 'started', 2_000),
    ];
    const advanced = await store.applyEvents(events);
    expect(advanced).toEqual(events.map(() => true));

    const counts = await rates.read([queue, other, idle], { startedS: 60, finishedS: 300 }, NOW);
    expect(Object.fromEntries(counts)).toEqual({
      [queue]: { started: 3, finished: 2 },
      [other]: { started: 1, finished: 0 },
      [idle]: { started: 0, finished: 0 },
    });
  });

  it('scales whole buckets to the window, and lets every counter expire', async () => {
    const queue = `d-${randomUUID().slice(0, 6)}`;
    await store.applyEvents(Array.from({ length: 40 }, () => event(queue, 'started', 1_000)));
    // The 60 s window reads the buckets from 57.5 s ago: 40 starts there are 41.7 per 60 s.
    const counts = await rates.read([queue], { startedS: 60, finishedS: 60 }, NOW);
    expect(counts.get(queue)).toEqual({ started: 42, finished: 0 });

    const keys = await redis.keys(`${prefix}rate:${queue}:*`);
    expect(keys).toEqual([rates.key(queue, 'started', Math.floor((NOW - 1_000) / RATE_BUCKET_MS))]);
    const ttl = await redis.ttl(keys[0]);
    expect(ttl).toBeGreaterThan(RATE_WINDOW_MAX_S);
    expect(ttl).toBeLessThanOrEqual(RATE_WINDOW_MAX_S + (2 * RATE_BUCKET_MS) / 1000);
  });

  it('refuses a window it does not keep', async () => {
    await expect(rates.read(['default'], { startedS: 60, finishedS: RATE_WINDOW_MAX_S + 1 })).rejects.toThrow(
      RangeError,
    );
  });
});
