import Redis from 'ioredis';
import { Client } from 'pg';
import { TestStack, TEST_SERVICES, type TestApi } from '@switchyard/testing';

jest.setTimeout(120000);

interface Submitted {
  id: string;
  status: string;
  deduplicated: boolean;
  cached: boolean;
  estimatedWaitMs?: number;
}
interface ErrorBody {
  error: { code: string; message: string; details: { index?: number; field?: string; message: string }[] };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('gateway admission: idempotency keys, the dedup window, the result cache and batches', () => {
  let stack: TestStack;
  let api: TestApi;
  let db: Client;
  let unique = 0;
  /** A payload no other test submits, so tests do not deduplicate each other. */
  const payload = (extra: Record<string, unknown> = {}) => ({
    steps: (unique += 1) % 100,
    durationMs: unique,
    ...extra,
  });

  const jobCount = async () =>
    Number(
      (await db.query<{ n: string }>(`SELECT count(*) AS n FROM jobs WHERE tenant = 'admission'`)).rows[0].n,
    );

  beforeAll(async () => {
    // Default DEDUP_WINDOW_MS (10 s) and IDEMPOTENCY_TTL_S.
    stack = await TestStack.create();
    await stack.start(['gateway', 'worker', 'progress-tracker']);
    api = stack.api((await stack.createApiKey('admission')).key);
    db = new Client({ connectionString: stack.db.url });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await stack?.destroy();
  });

  it('returns the same job for the same Idempotency-Key, and 422 for the key with a different body', async () => {
    const body = { type: 'synthetic', payload: payload() };
    const first = await api.post<Submitted>('/jobs', body, { 'idempotency-key': 'order-1' });
    const again = await api.post<Submitted>('/jobs', body, { 'idempotency-key': 'order-1' });
    expect([first.status, again.status]).toEqual([202, 200]);
    expect(again.body.id).toBe(first.body.id);
    const other = await api.post<ErrorBody>(
      '/jobs',
      { type: 'synthetic', payload: payload() },
      { 'idempotency-key': 'order-1' },
    );
    expect([other.status, other.body.error.code]).toEqual([422, 'idempotency_conflict']);
    // The key in the body works the same; a different priority is a different request too.
    const inBody = await api.post<Submitted>('/jobs', { ...body, idempotencyKey: 'order-1' });
    expect([inBody.status, inBody.body.id]).toEqual([200, first.body.id]);
    const priority = await api.post<ErrorBody>(
      '/jobs',
      { ...body, priority: 'critical' },
      { 'idempotency-key': 'order-1' },
    );
    expect(priority.status).toBe(422);
    // Redis losing the key changes nothing: PostgreSQL still holds it.
    const redis = new Redis(TEST_SERVICES.redis);
    try {
      const keys = await redis.keys(`${stack.redisPrefix}idem:*`);
      expect(keys.length).toBeGreaterThan(0);
      await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
    const afterLoss = await api.post<Submitted>('/jobs', body, { 'idempotency-key': 'order-1' });
    expect([afterLoss.status, afterLoss.body.id]).toEqual([200, first.body.id]);
    const conflictAfterLoss = await api.post<ErrorBody>(
      '/jobs',
      { type: 'synthetic', payload: payload() },
      { 'idempotency-key': 'order-1' },
    );
    expect(conflictAfterLoss.status).toBe(422);
    const batchAfterLoss = await api.post<{ jobs: Submitted[] }>('/jobs/batch', {
      jobs: [{ ...body, idempotencyKey: 'order-1' }],
    });
    expect([batchAfterLoss.status, batchAfterLoss.body.jobs[0]?.id]).toEqual([202, first.body.id]);
    // Concurrent retries of one request create one job.
    const concurrent = await Promise.all(
      Array.from({ length: 10 }, () =>
        api.post<Submitted>(
          '/jobs',
          { type: 'synthetic', payload: { steps: 77 } },
          { 'idempotency-key': 'order-2' },
        ),
      ),
    );
    expect(new Set(concurrent.map((r) => r.body.id)).size).toBe(1);
    expect(concurrent.map((r) => r.status).sort()).toEqual([
      200, 200, 200, 200, 200, 200, 200, 200, 200, 202,
    ]);
  });

  it('deduplicates identical submissions 1 s apart into one job, and 11 s apart into two (default window)', async () => {
    const body = { type: 'synthetic', payload: payload() };
    const before = await jobCount();
    const first = await api.post<Submitted>('/jobs', body);
    await sleep(1000);
    const second = await api.post<Submitted>('/jobs', body);
    expect([first.status, second.status]).toEqual([202, 200]);
    expect(second.body).toMatchObject({ id: first.body.id, deduplicated: true, cached: false });
    // Key order does not make a request different.
    const reordered = await api.post<Submitted>('/jobs', {
      payload: Object.fromEntries(Object.entries(body.payload).reverse()),
      type: 'synthetic',
    });
    expect(reordered.body.id).toBe(first.body.id);
    // dedupe: false opts out.
    const optOut = await api.post<Submitted>('/jobs', { ...body, dedupe: false });
    expect(optOut.status).toBe(202);
    expect(optOut.body.id).not.toBe(first.body.id);
    await sleep(11000 - 1000);
    const later = await api.post<Submitted>('/jobs', body);
    expect(later.status).toBe(202);
    expect(later.body.id).not.toBe(first.body.id);
    expect((await jobCount()) - before).toBe(3);
  });

  it('answers a cacheable type’s repeated request after completion with the completed job, cached: true, running nothing', async () => {
    const body = { type: 'synthetic', payload: payload({ cacheable: true }) };
    const first = await api.post<Submitted>('/jobs', body);
    expect(first.body.cached).toBe(false);
    const done = await api.waitForStatus(first.body.id, 'completed');
    const before = await jobCount();
    const repeat = await api.post<Submitted>('/jobs', { ...body, dedupe: false });
    expect(repeat.status).toBe(200);
    expect(repeat.body).toMatchObject({ id: first.body.id, status: 'completed', cached: true });
    expect(await jobCount()).toBe(before);
    expect((await api.job(first.body.id)).attempts).toBe(done.attempts); // nothing ran again
    // Counted: hits in PostgreSQL (the durable level) and the hit rate in /stats.
    const hits = await db.query<{ hits: string }>(`SELECT hits FROM result_cache WHERE job_id = $1`, [
      first.body.id,
    ]);
    expect(Number(hits.rows[0]?.hits)).toBeGreaterThanOrEqual(1);
    const second = await api.post<Submitted>('/jobs', body);
    expect(second.body).toMatchObject({ id: first.body.id, cached: true });
    const stats = await api.get<{ cache: { hits: number; hitRate: number | null } }>('/stats');
    expect(stats.body.cache.hits).toBeGreaterThanOrEqual(2);
    expect(stats.body.cache.hitRate).toBeGreaterThan(0);
    // Not cacheable: a completed identical request runs again (after the dedup window).
    const plain = { type: 'synthetic', payload: payload() };
    const once = await api.post<Submitted>('/jobs', plain);
    await api.waitForStatus(once.body.id, 'completed');
    const twice = await api.post<Submitted>('/jobs', { ...plain, dedupe: false });
    expect([twice.status, twice.body.cached]).toEqual([202, false]);
  });

  it('creates nothing for a batch of 100 with one invalid item and names its index', async () => {
    const before = await jobCount();
    const jobs = Array.from({ length: 100 }, (_, i) => ({ type: 'synthetic', payload: { steps: i % 10 } }));
    jobs[42] = { type: 'synthetic', payload: { steps: 1000 } };
    const response = await api.post<ErrorBody>('/jobs/batch', { jobs });
    expect([response.status, response.body.error.code]).toEqual([400, 'validation_failed']);
    expect(response.body.error.details).toEqual([
      expect.objectContaining({ index: 42, field: 'payload.steps' }),
    ]);
    expect(await jobCount()).toBe(before);
    const tooMany = await api.post<ErrorBody>('/jobs/batch', {
      jobs: Array.from({ length: 101 }, () => jobs[0]),
    });
    expect(tooMany.status).toBe(400);
    const unknownType = await api.post<ErrorBody>('/jobs/batch', {
      jobs: [jobs[0], { type: 'nope', payload: {} }],
    });
    expect(unknownType.body.error.details).toEqual([expect.objectContaining({ index: 1, field: 'type' })]);
    expect(await jobCount()).toBe(before);
  });

  it('creates all 100 jobs of a valid batch, in order, with wait estimates', async () => {
    const before = await jobCount();
    const jobs = Array.from({ length: 100 }, (_, i) => ({
      type: 'synthetic',
      priority: i % 10,
      payload: { steps: 0 },
      metadata: { index: i },
    }));
    const response = await api.post<{
      jobs: (Submitted & { metadata: { index: number }; priority: number })[];
      estimatedTotalMs: number;
    }>('/jobs/batch', { jobs });
    expect(response.status).toBe(202);
    expect(response.body.jobs).toHaveLength(100);
    expect(response.body.jobs.map((j) => j.metadata.index)).toEqual(jobs.map((_, i) => i));
    expect(response.body.jobs.map((j) => j.priority)).toEqual(jobs.map((j) => j.priority));
    expect(new Set(response.body.jobs.map((j) => j.id)).size).toBe(100);
    expect(typeof response.body.estimatedTotalMs).toBe('number');
    expect(response.body.jobs.every((j) => typeof j.estimatedWaitMs === 'number')).toBe(true);
    expect(await jobCount()).toBe(before + 100);
    // The same batch again with idempotency keys: the keyed items answer with their jobs.
    const keyed = jobs.slice(0, 3).map((j, i) => ({ ...j, idempotencyKey: `batch-${i}` }));
    const once = await api.post<{ jobs: Submitted[] }>('/jobs/batch', { jobs: keyed });
    const twice = await api.post<{ jobs: Submitted[] }>('/jobs/batch', { jobs: keyed });
    expect(twice.body.jobs.map((j) => j.id)).toEqual(once.body.jobs.map((j) => j.id));
    expect(twice.body.jobs.every((j) => j.deduplicated)).toBe(true);
    const conflict = await api.post<ErrorBody>('/jobs/batch', {
      jobs: [keyed[0], { ...keyed[1], payload: { steps: 5 } }],
    });
    expect([conflict.status, conflict.body.error.details[0]?.index]).toEqual([422, 1]);
    await Promise.all(response.body.jobs.slice(0, 5).map((j) => api.waitForStatus(j.id, 'completed')));
  });
});
