import { TestStack, waitFor, type ServiceProcess, type TestApi } from '@switchyard/testing';

jest.setTimeout(120000);

interface ErrorBody {
  error: { code: string; message: string };
}

describe('gateway limits: rate limits across gateways, quotas, queue depth, body size', () => {
  let stack: TestStack;
  let second: ServiceProcess;

  beforeAll(async () => {
    // No worker: submitted jobs stay queued, so quotas and depths only grow.
    stack = await TestStack.create({
      RATE_LIMIT_WRITE_PER_MIN: '60',
      RATE_LIMIT_READ_PER_MIN: '600',
      RATE_LIMIT_BURST: '5',
      TENANT_MAX_ACTIVE_JOBS: '6',
      QUEUE_MAX_DEPTH: '10',
      QUEUE_WARN_DEPTH: '8',
    });
    await stack.start(['gateway']);
    second = await stack.spawn('gateway');
  });

  afterAll(async () => {
    await stack?.destroy();
  });

  it('answers 429 with Retry-After and RateLimit-* past a key’s write limit, shared by two gateways, while another key is unaffected', async () => {
    const noisy = (await stack.createApiKey('limited-a')).key;
    const quiet = (await stack.createApiKey('limited-b')).key;
    const gateways = [stack.service('gateway'), second];
    // 20 writes at once, alternating between the two gateways. Invalid (empty) batches still
    // count as requests, and create nothing.
    const started = Date.now();
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        stack.api(noisy, gateways[i % 2]).post<ErrorBody>('/jobs/batch', { jobs: [] }),
      ),
    );
    const elapsedS = (Date.now() - started) / 1000;
    const limited = responses.filter((r) => r.status === 429);
    const passed = responses.filter((r) => r.status !== 429);
    // One shared bucket: the burst of 5, plus one token per second while the requests ran.
    expect(passed.length).toBeGreaterThanOrEqual(5);
    expect(passed.length).toBeLessThanOrEqual(5 + Math.ceil(elapsedS) + 1);
    const refusedBy = new Set(responses.flatMap((r, i) => (r.status === 429 ? [i % 2] : [])));
    expect([...refusedBy].sort()).toEqual([0, 1]); // both gateways refuse: the bucket is shared
    const refusal = limited[0];
    expect(refusal.body.error.code).toBe('rate_limited');
    expect(Number(refusal.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refusal.headers.get('ratelimit-limit')).toBe('5');
    expect(refusal.headers.get('ratelimit-remaining')).toBe('0');
    expect(Number(refusal.headers.get('ratelimit-reset'))).toBeGreaterThan(0);
    expect(passed.map((r) => r.headers.get('ratelimit-remaining'))).toContain('4');

    const other = await stack.api(quiet, second).post('/jobs', { type: 'synthetic', payload: {} });
    expect(other.status).toBe(202);
    expect(other.headers.get('ratelimit-remaining')).toBe('4');
    // The noisy key's reads have their own bucket.
    expect((await stack.api(noisy).get('/jobs')).status).toBe(200);
    const metrics = await (await fetch(`${stack.service('gateway').url}/metrics`)).text();
    expect(metrics).toMatch(/switchyard_rate_limited_total\{[^}]*scope="write"[^}]*\} [1-9]/);
  });

  it('answers 429 `tenant_quota_exceeded` with Retry-After past TENANT_MAX_ACTIVE_JOBS', async () => {
    const api = stack.api((await stack.createApiKey('quota')).key);
    for (let i = 0; i < 6; i++) await slowly(() => api.submit({ type: 'synthetic', payload: { steps: i } }));
    const over = await slowly(() =>
      api.post<ErrorBody>('/jobs', { type: 'synthetic', payload: { steps: 99 } }),
    );
    expect([over.status, over.body.error.code]).toEqual([429, 'tenant_quota_exceeded']);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // A batch counts its items: nothing fits, nothing is created.
    const batch = await slowly(() =>
      api.post<ErrorBody>('/jobs/batch', { jobs: [{ type: 'synthetic', payload: {} }] }),
    );
    expect([batch.status, batch.body.error.code]).toEqual([429, 'tenant_quota_exceeded']);
    const list = await api.get<{ items: unknown[] }>('/jobs');
    expect(list.body.items).toHaveLength(6);
  });

  it('answers 503 `queue_full` with Retry-After once the queue backlog holds QUEUE_MAX_DEPTH jobs, and shows the level', async () => {
    const fillers = [
      stack.api((await stack.createApiKey('depth-a')).key),
      stack.api((await stack.createApiKey('depth-b')).key),
    ];
    const [a] = fillers as [TestApi];
    const b = stack.api((await stack.createApiKey('depth-c')).key);
    const depth = async () => {
      const r = await a.get<{ items: { queue: string; backlog: number; released: number; level: string }[] }>(
        '/queues',
      );
      const q = r.body.items.find((x) => x.queue === 'default');
      // The depth the limit counts: jobs in PostgreSQL's backlog plus those released to RabbitMQ.
      return q && { ...q, depth: q.backlog + q.released };
    };
    // Earlier tests left jobs queued (no worker runs); fill the queue up to QUEUE_MAX_DEPTH (10).
    const already = (await depth())?.depth ?? 0;
    for (let i = already; i < 10; i++) {
      await slowly(() => fillers[i % 2].submit({ type: 'synthetic', payload: { steps: i } }));
    }
    const queues = await waitFor(
      async () => {
        const q = await depth();
        return q && q.depth === 10 ? q : undefined;
      },
      { what: 'the default queue at depth 10', intervalMs: 250 },
    );
    expect(queues.level).toBe('critical');
    const full = await slowly(() =>
      b.post<ErrorBody>('/jobs', { type: 'synthetic', payload: { steps: 50 } }),
    );
    expect([full.status, full.body.error.code]).toEqual([503, 'queue_full']);
    expect(Number(full.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const logs = stack.service('gateway').logs();
    expect(
      logs.some(
        (l) =>
          l['msg'] === 'queue default depth is warning' || l['msg'] === 'queue default depth is critical',
      ),
    ).toBe(true);
  });

  it('answers 413 `payload_too_large` past BODY_LIMIT_BYTES and 400 for a list limit above 200', async () => {
    const api = stack.api((await stack.createApiKey('bodies')).key);
    const huge = await api.post<ErrorBody>('/jobs', {
      type: 'synthetic',
      payload: {},
      metadata: { blob: 'x'.repeat(1024 * 1024 + 10) },
    });
    expect([huge.status, huge.body.error.code]).toEqual([413, 'payload_too_large']);
    const metadata = await slowly(() =>
      api.post<ErrorBody>('/jobs', { type: 'synthetic', payload: {}, metadata: { blob: 'x'.repeat(9000) } }),
    );
    expect([metadata.status, metadata.body.error.code]).toEqual([400, 'validation_failed']);
    expect((await api.get('/jobs?limit=201')).status).toBe(400);
    const text = await api.request<ErrorBody>('POST', '/jobs', 'type=synthetic', {
      'content-type': 'text/plain',
    });
    expect([text.status, text.body.error.code]).toEqual([415, 'unsupported_media_type']);
  });

  it('fails open when Redis is unreachable: requests pass unlimited, with a log line and a metric', async () => {
    // Its own quota, so that the jobs of earlier tests do not count.
    const blind = await stack.spawn('gateway', {
      REDIS_URL: 'redis://127.0.0.1:1',
      TENANT_MAX_ACTIVE_JOBS: '100',
      QUEUE_MAX_DEPTH: '1000',
    });
    const key = (await stack.createApiKey('blind')).key;
    const api = stack.api(key, blind);
    const statuses = [];
    for (let i = 0; i < 8; i++) statuses.push((await api.post('/jobs/batch', { jobs: [] })).status);
    expect(statuses).toEqual(Array(8).fill(400)); // over the burst of 5, yet never 429
    // Idempotency keys and the dedup window still hold, answered from PostgreSQL.
    const body = { type: 'synthetic', payload: { steps: 42 } };
    const keyed = await api.post<{ id: string }>('/jobs', body, { 'idempotency-key': 'no-redis' });
    const replay = await api.post<{ id: string }>('/jobs', body, { 'idempotency-key': 'no-redis' });
    const conflict = await api.post<ErrorBody>(
      '/jobs',
      { ...body, payload: { steps: 43 } },
      { 'idempotency-key': 'no-redis' },
    );
    expect([keyed.status, replay.status, replay.body.id, conflict.status]).toEqual([
      202,
      200,
      keyed.body.id,
      422,
    ]);
    const first = await api.post<{ id: string }>('/jobs', { type: 'synthetic', payload: { steps: 44 } });
    const again = await api.post<{ id: string; deduplicated: boolean }>('/jobs', {
      type: 'synthetic',
      payload: { steps: 44 },
    });
    expect([first.status, again.status, again.body.id, again.body.deduplicated]).toEqual([
      202,
      200,
      first.body.id,
      true,
    ]);
    const health = await api.get<{ status: string; checks: { redis: { status: string } } }>('/health');
    expect([health.body.status, health.body.checks.redis.status]).toEqual(['degraded', 'down']);
    expect(blind.logs().some((l) => String(l['msg']).includes('failing open'))).toBe(true);
    const metrics = await (await fetch(`${blind.url}/metrics`)).text();
    expect(metrics).toMatch(/switchyard_rate_limiter_fail_open_total\{[^}]*\} [1-9]/);
    await blind.stop();
  });
});

/** Spaces writes so the 60-per-minute write limit of this stack does not interfere. */
async function slowly<T>(request: () => Promise<T>): Promise<T> {
  await new Promise((resolve) => setTimeout(resolve, 1100));
  return request();
}
