import { randomUUID } from 'node:crypto';
import type { JobEventData, JobEventName } from '@switchyard/contracts';
import type { Command, Pipeline, Redis } from 'ioredis';
import { decodeStoredEvent, type JobEventInput, type StoredJobEvent } from './live-progress';
import { APPLY_CHUNK_EVENTS, LiveProgressStore } from './live-progress.store';
import { createRedis } from './redis';

const REDIS_URL = 'redis://127.0.0.1:6379';
const prefix = `sytest:${randomUUID().slice(0, 8)}:`;
const TTL_SECONDS = 600;

let redis: Redis;
let subscriber: Redis;
let store: LiveProgressStore;
let inbox: Inbox;

beforeAll(async () => {
  redis = createRedis(REDIS_URL, { connectionName: `${prefix}store` });
  subscriber = createRedis(REDIS_URL, { connectionName: `${prefix}subscriber` });
  store = new LiveProgressStore(redis, { prefix, ttlSeconds: TTL_SECONDS });
  inbox = new Inbox();
  subscriber.on('message', (channel: string, message: string) => {
    if (channel === store.keys.channel) inbox.push(message);
  });
  await subscriber.subscribe(store.keys.channel);
});

afterAll(async () => {
  await deleteKeys(redis, prefix);
  await subscriber.quit();
  await redis.quit();
});

describe('LiveProgressStore (real Redis)', () => {
  it('advances the live state with in-order events and logs each one', async () => {
    const id = randomUUID();
    const events = [
      event(id, 1, 'queued', { status: 'queued' }),
      event(id, 2, 'started', { status: 'running', attempt: 1 }),
      event(id, 3, 'progress', {
        status: 'running',
        attempt: 1,
        step: 'generating',
        progress: 37.5,
        message: 'hi',
      }),
    ];
    await expect(store.applyEvents(events)).resolves.toEqual([true, true, true]);
    await expect(store.getLive(id)).resolves.toEqual({
      jobId: id,
      tenant: 'tenant-a',
      type: 'synthetic',
      queue: 'default',
      status: 'running',
      step: 'generating',
      progress: 37.5,
      message: 'hi',
      attempt: 1,
      seq: 3,
      updatedAt: events[2].time,
    });
    const logged = await store.readEvents(id);
    expect(logged.map((e) => [e.seq, e.event])).toEqual([
      [1, 'queued'],
      [2, 'started'],
      [3, 'progress'],
    ]);
    expect(logged[2]).toEqual({ ...events[2], seq: 3 });
  });

  it('ignores an older seq arriving after a newer one, but keeps it in the log', async () => {
    const id = randomUUID();
    await store.applyEvents([event(id, 1, 'queued'), event(id, 3, 'progress', { progress: 60 })]);
    const stale = event(id, 2, 'progress', { progress: 30, step: 'old' });
    await expect(store.applyEvents([stale])).resolves.toEqual([false]);
    const live = await store.getLive(id);
    expect(live?.seq).toBe(3);
    expect(live?.progress).toBe(60);
    expect(live?.step).toBe('generating');
    expect((await store.readEvents(id)).map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  it('does not duplicate a repeated event, within one batch or across calls', async () => {
    const id = randomUUID();
    const e1 = event(id, 1, 'queued');
    await expect(store.applyEvents([e1, e1])).resolves.toEqual([true, false]);
    await expect(store.applyEvents([e1])).resolves.toEqual([false]);
    // A redelivery with another timestamp is still the same seq.
    await expect(
      store.applyEvents([{ ...e1, time: new Date(Date.now() + 5000).toISOString() }]),
    ).resolves.toEqual([false]);
    const logged = await store.readEvents(id);
    expect(logged).toHaveLength(1);
    expect(logged[0]?.time).toBe(e1.time);
  });

  it('reads events after a seq, ascending, whatever order they arrived in', async () => {
    const id = randomUUID();
    const results = await store.applyEvents([3, 1, 5, 2, 4].map((seq) => event(id, seq, 'progress')));
    expect(results).toEqual([true, false, true, false, false]);
    expect((await store.readEvents(id)).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect((await store.readEvents(id, 2)).map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(await store.readEvents(id, 5)).toEqual([]);
    expect(await store.readEvents(randomUUID())).toEqual([]);
  });

  it('sets the TTL on both keys', async () => {
    const id = randomUUID();
    await store.applyEvents([event(id, 1, 'queued')]);
    for (const key of [store.keys.live(id), store.keys.events(id)]) {
      const ttl = await redis.ttl(key);
      expect(ttl).toBeGreaterThan(TTL_SECONDS - 60);
      expect(ttl).toBeLessThanOrEqual(TTL_SECONDS);
    }
  });

  it('applies a batch spanning several jobs in one call, per job', async () => {
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    const results = await store.applyEvents([
      event(a, 1, 'queued'),
      event(b, 1, 'queued'),
      event(a, 2, 'started'),
      event(c, 5, 'progress'),
      event(b, 1, 'queued'),
      event(c, 4, 'progress'),
      event(b, 2, 'completed', { status: 'completed', progress: 100, resultUrl: `/api/v1/jobs/${b}/result` }),
    ]);
    expect(results).toEqual([true, true, true, true, false, false, true]);
    const [liveA, liveB, liveC] = await store.getLiveMany([a, b, c]);
    expect(liveA?.seq).toBe(2);
    expect(liveB).toMatchObject({
      seq: 2,
      status: 'completed',
      progress: 100,
      resultUrl: `/api/v1/jobs/${b}/result`,
    });
    expect(liveC?.seq).toBe(5);
    expect((await store.readEvents(c)).map((e) => e.seq)).toEqual([4, 5]);
  });

  it('replaces the whole state: an error from a failed attempt is gone once the job runs again', async () => {
    const id = randomUUID();
    const error = { code: 'retryable_error', message: 'flaky', retryable: true };
    await store.applyEvents([event(id, 1, 'retrying', { status: 'retrying', error })]);
    expect((await store.getLive(id))?.error).toEqual(error);
    await store.applyEvents([
      event(id, 2, 'started', { status: 'running', attempt: 2, step: null, message: null }),
    ]);
    const live = await store.getLive(id);
    expect(live).not.toHaveProperty('error');
    expect(live?.step).toBeNull();
    expect(live?.message).toBeNull();
    expect(live?.attempt).toBe(2);
  });

  it('publishes applied events on the channel, and not stale ones', async () => {
    const id = randomUUID();
    const first = event(id, 1, 'queued');
    await store.applyEvents([first, event(id, 3, 'progress')]);
    await inbox.waitFor((e) => e.data.jobId === id && e.seq === 3);
    await store.applyEvents([event(id, 2, 'progress'), event(id, 4, 'completed', { status: 'completed' })]);
    await inbox.waitFor((e) => e.data.jobId === id && e.seq === 4);
    // One connection delivers in publish order, so a published seq 2 would have arrived before seq 4.
    const mine = inbox.received.filter((e) => e.data.jobId === id);
    expect(mine.map((e) => e.seq)).toEqual([1, 3, 4]);
    expect(mine[0]).toEqual({ ...first, seq: 1 });
  });

  it('reads many live states in order, with null for unknown jobs', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    await store.applyEvents([event(a, 1, 'queued'), event(b, 7, 'progress', { progress: 70 })]);
    const many = await store.getLiveMany([b, randomUUID(), a]);
    expect(many.map((l) => l && [l.jobId, l.seq, l.progress])).toEqual([[b, 7, 70], null, [a, 1, 10]]);
    await expect(store.getLiveMany([])).resolves.toEqual([]);
    await expect(store.getLive(randomUUID())).resolves.toBeNull();
  });

  it('keeps only the newest maxEventsPerJob events', async () => {
    const small = new LiveProgressStore(redis, { prefix, ttlSeconds: TTL_SECONDS, maxEventsPerJob: 5 });
    const id = randomUUID();
    await small.applyEvents([1, 2, 3, 4, 5, 6, 7, 8].map((seq) => event(id, seq, 'progress')));
    await small.applyEvents([event(id, 2, 'progress')]);
    expect((await small.readEvents(id)).map((e) => e.seq)).toEqual([4, 5, 6, 7, 8]);
    expect((await small.getLive(id))?.seq).toBe(8);
  });

  it('deletes both keys of a job', async () => {
    const id = randomUUID();
    await store.applyEvents([event(id, 1, 'queued')]);
    await store.deleteJob(id);
    expect(await redis.exists(store.keys.live(id), store.keys.events(id))).toBe(0);
    await expect(store.getLive(id)).resolves.toBeNull();
  });

  it('rejects an event without a finite seq before writing anything', async () => {
    const id = randomUUID();
    await expect(
      store.applyEvents([event(id, 1, 'queued'), event(id, Number.NaN, 'progress')]),
    ).rejects.toThrow(RangeError);
    expect(await redis.exists(store.keys.live(id))).toBe(0);
    await expect(store.applyEvents([])).resolves.toEqual([]);
  });

  it('applies 200 events for 50 jobs in one call', async () => {
    const ids = Array.from({ length: 50 }, () => randomUUID());
    const events: JobEventInput[] = [];
    for (let seq = 1; seq <= 4; seq += 1) {
      for (const id of ids) events.push(event(id, seq, 'progress', { progress: seq * 25 }));
    }
    const results = await store.applyEvents(events);
    expect(results).toHaveLength(200);
    expect(results.every(Boolean)).toBe(true);
    const lives = await store.getLiveMany(ids);
    expect(lives.map((l) => l?.seq)).toEqual(ids.map(() => 4));
    expect(lives.map((l) => l?.progress)).toEqual(ids.map(() => 100));
  });

  it('applies a batch larger than one script call as one call per chunk, per event as if one by one', async () => {
    const ids = Array.from({ length: 40 }, () => randomUUID());
    // Each job's events are spread over the whole batch (so over several chunks), out of order and
    // with repeats: seq 3, 1, 3, 6, 2, 5, 4 per job.
    const seqs = [3, 1, 3, 6, 2, 5, 4];
    const events: JobEventInput[] = [];
    for (const seq of seqs) {
      for (const id of ids)
        events.push(event(id, seq, seq === 6 ? 'completed' : 'progress', { progress: seq * 10 }));
    }
    expect(events.length).toBeGreaterThan(2 * APPLY_CHUNK_EVENTS);
    const sent = countPipelinedCommands(redis);
    const results = await store.applyEvents(events);
    // One script call per chunk, and the queue's finish counter of the completions' bucket
    // (INCRBY and EXPIRE: QueueRates).
    expect(sent()).toBe(Math.ceil(events.length / APPLY_CHUNK_EVENTS) + 2);
    const advancedBySeq = seqs.map((seq) => [seq === 3 || seq === 6, ids.length] as const);
    expect(results).toEqual(
      advancedBySeq.flatMap(([advanced, n], k) => Array<boolean>(n).fill(k === 2 ? false : advanced)),
    );
    const lives = await store.getLiveMany(ids);
    expect(lives.map((l) => [l?.seq, l?.progress])).toEqual(ids.map(() => [6, 60]));
    for (const id of [ids[0], ids[39]]) {
      expect((await store.readEvents(id)).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
      expect((await store.readEvents(id, 4)).map((e) => e.seq)).toEqual([5, 6]);
      const ttl = await redis.ttl(store.keys.events(id));
      expect(ttl).toBeGreaterThan(TTL_SECONDS - 60);
    }
    await inbox.waitFor((e) => e.data.jobId === ids[39] && e.seq === 6);
    const published = inbox.received.filter((e) => e.data.jobId === ids[39]).map((e) => e.seq);
    expect(published).toEqual([3, 6]);
  });

  it('takes the live state from the newest event of a chunk and publishes every event that advanced', async () => {
    const id = randomUUID();
    await store.applyEvents([event(id, 5, 'progress')]);
    const newest = event(id, 8, 'completed', {
      status: 'completed',
      step: null,
      message: null,
      progress: 100,
      resultUrl: `/api/v1/jobs/${id}/result`,
    });
    const results = await store.applyEvents([
      event(id, 6, 'progress', { step: 'six', message: 'm6', progress: 60 }),
      event(id, 4, 'progress'),
      newest,
      event(id, 7, 'progress'),
      { ...newest, time: new Date(Date.now() + 5000).toISOString() },
    ]);
    expect(results).toEqual([true, false, true, false, false]);
    expect(await redis.hgetall(store.keys.live(id))).toEqual({
      jobId: id,
      tenant: 'tenant-a',
      type: 'synthetic',
      queue: 'default',
      status: 'completed',
      progress: '100',
      attempt: '1',
      seq: '8',
      updatedAt: newest.time,
      resultUrl: `/api/v1/jobs/${id}/result`,
    });
    expect((await store.readEvents(id)).map((e) => e.seq)).toEqual([4, 5, 6, 7, 8]);
    await inbox.waitFor((e) => e.data.jobId === id && e.seq === 8);
    expect(inbox.received.filter((e) => e.data.jobId === id).map((e) => e.seq)).toEqual([5, 6, 8]);

    // When even the newest event of the chunk is stale, the live state stays as it was.
    await expect(store.applyEvents([event(id, 3, 'progress'), event(id, 2, 'progress')])).resolves.toEqual([
      false,
      false,
    ]);
    expect((await store.getLive(id))?.seq).toBe(8);
    expect((await store.readEvents(id)).map((e) => e.seq)).toEqual([2, 3, 4, 5, 6, 7, 8]);
  });

  it('keeps only the newest maxEventsPerJob events when a job spans several chunks', async () => {
    const small = new LiveProgressStore(redis, { prefix, ttlSeconds: TTL_SECONDS, maxEventsPerJob: 3 });
    const id = randomUUID();
    const seqs = Array.from({ length: APPLY_CHUNK_EVENTS + 10 }, (_, k) => APPLY_CHUNK_EVENTS + 10 - k);
    const results = await small.applyEvents(seqs.map((seq) => event(id, seq, 'progress')));
    expect(results.filter(Boolean)).toHaveLength(1);
    const top = APPLY_CHUNK_EVENTS + 10;
    expect((await small.readEvents(id)).map((e) => e.seq)).toEqual([top - 2, top - 1, top]);
    expect((await small.getLive(id))?.seq).toBe(top);
  });

  it('keeps seq, progress and optional fields exactly as the event gives them', async () => {
    const id = randomUUID();
    const seq = 2 ** 53 - 1;
    const e = event(id, 1, 'progress', {
      seq,
      progress: 100 / 3,
      step: '',
      message: 'ünïcødé \n "quoted"',
    });
    await expect(store.applyEvents([e])).resolves.toEqual([true]);
    const live = await store.getLive(id);
    expect(live).toMatchObject({ seq, progress: 100 / 3, step: '', message: 'ünïcødé \n "quoted"' });
    expect(await redis.hget(store.keys.live(id), 'seq')).toBe(String(seq));
    expect(await store.readEvents(id)).toEqual([{ ...e, seq }]);
  });
});

function event(
  jobId: string,
  seq: number,
  name: JobEventName,
  overrides: Partial<JobEventData> = {},
): JobEventInput {
  return {
    event: name,
    time: new Date(Date.UTC(2025, 0, 1) + (Number.isFinite(seq) ? seq : 0) * 1000).toISOString(),
    correlationId: `corr-${jobId}`,
    data: {
      jobId,
      tenant: 'tenant-a',
      type: 'synthetic',
      queue: 'default',
      status: 'running',
      step: 'generating',
      progress: 10,
      message: null,
      attempt: 1,
      seq,
      ...overrides,
    },
  };
}

/** Messages from the events channel, with a way to await one (bounded by a deadline, no sleeps). */
class Inbox {
  readonly received: StoredJobEvent[] = [];
  private waiters: { match: (e: StoredJobEvent) => boolean; resolve: (e: StoredJobEvent) => void }[] = [];

  push(message: string): void {
    const stored = decodeStoredEvent(message);
    if (!stored) return;
    this.received.push(stored);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(stored)) return true;
      w.resolve(stored);
      return false;
    });
  }

  waitFor(match: (e: StoredJobEvent) => boolean, deadlineMs = 5000): Promise<StoredJobEvent> {
    const seen = this.received.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching message within ${deadlineMs} ms`)),
        deadlineMs,
      );
      this.waiters.push({
        match,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  }
}

/** Counts the commands the next pipeline of `client` sends; call the returned function after it ran. */
function countPipelinedCommands(client: Redis): () => number {
  let sent = 0;
  const create = client.pipeline.bind(client);
  const spy = jest.spyOn(client, 'pipeline').mockImplementationOnce(() => {
    const pipeline = create() as Pipeline;
    const send = pipeline.sendCommand.bind(pipeline);
    pipeline.sendCommand = (command: Command) => {
      sent += 1;
      return send(command);
    };
    return pipeline;
  });
  return () => {
    spy.mockRestore();
    return sent;
  };
}

async function deleteKeys(client: Redis, keyPrefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 500);
    if (keys.length > 0) await client.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}
