// DLQ bounds (issue 13): a bulk replay's filter is validated (an unknown field or an empty filter
// without `all: true` is 400), its rate limit is shared by every gateway, and retry and replay
// pass the tenant quota and queue depth checks like a new submission.
import { TestStack, waitFor, type ServiceProcess, type TestApi } from '@switchyard/testing';

jest.setTimeout(120000);

interface ErrorBody {
  error: { code: string; message: string; details?: { field: string }[] };
}

describe('DLQ replay bounds', () => {
  let stack: TestStack;
  let second: ServiceProcess;
  let a: TestApi;
  let b: TestApi;
  const deadA: string[] = [];
  let deadB = '';

  beforeAll(async () => {
    stack = await TestStack.create({
      TENANT_MAX_ACTIVE_JOBS: '3',
      QUEUE_MAX_DEPTH: '3',
      QUEUE_WARN_DEPTH: '2',
    });
    await stack.start(['gateway', 'progress-tracker']);
    second = await stack.spawn('gateway');
    a = stack.api((await stack.createApiKey('dlq-a')).key);
    b = stack.api((await stack.createApiKey('dlq-b')).key, second);
    // Dead-letter two jobs of tenant A and one of tenant B, then stop the worker: later jobs stay queued.
    const worker = await stack.spawn('worker');
    const doomed = { type: 'synthetic', maxAttempts: 1, payload: { fail: 'permanent' } };
    deadA.push(await a.submit(doomed), await a.submit(doomed));
    deadB = await b.submit(doomed);
    for (const [api, id] of [
      [a, deadA[0]],
      [a, deadA[1]],
      [b, deadB],
    ] as const) {
      await api.waitForJob(id, (j) => j.status === 'failed' && j['deadLettered'] === true);
    }
    await worker.stop('SIGTERM');
  });

  afterAll(async () => {
    await stack?.destroy();
  });

  it('refuses an unknown filter field and an empty filter without "all": true, replaying nothing', async () => {
    const typo = await a.post<ErrorBody>('/dlq/replay', { errorcode: 'permanent_error' });
    expect([typo.status, typo.body.error.code]).toEqual([400, 'validation_failed']);
    expect(typo.body.error.details?.map((d) => d.field)).toEqual(['errorcode']);
    for (const body of [{}, { all: false }, { limit: 5 }]) {
      const empty = await a.post<ErrorBody>('/dlq/replay', body);
      expect([empty.status, empty.body.error.code]).toEqual([400, 'validation_failed']);
    }
    const dlq = await a.get<{ items: { id: string }[] }>('/dlq');
    expect(dlq.body.items.map((j) => j.id).sort()).toEqual([...deadA].sort());
  });

  it('limits bulk replays to one a second per tenant across all gateways', async () => {
    const first = await stack
      .api((await stack.createApiKey('dlq-b')).key, stack.service('gateway'))
      .post('/dlq/replay', { errorCode: 'no_such_code' });
    expect(first.status).toBe(202);
    // At once, through the other gateway: the bucket is in Redis.
    const again = await b.post<ErrorBody>('/dlq/replay', { errorCode: 'no_such_code' });
    expect([again.status, again.body.error.code]).toEqual([429, 'rate_limited']);
    expect(Number(again.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it('refuses retry and replay past the tenant quota (429) and the queue depth (503), leaving the jobs dead-lettered', async () => {
    // Tenant A fills its quota of 3, and the default queue its depth of 3 (no worker runs).
    // The gateway's active-job count may still hold the dead-lettered jobs for up to 3 s.
    for (let i = 0; i < 3; i++) {
      await waitFor(
        async () =>
          (await a.post('/jobs', { type: 'synthetic', dedupe: false, payload: { steps: i } })).status === 202,
        { what: `tenant A's job ${i} accepted`, intervalMs: 250 },
      );
    }
    // Both gateways poll the PostgreSQL backlog (queued + released: what queue_full counts) on
    // their own, every second: wait until each sees the queue full. (RabbitMQ's ready count is
    // another poll, and a batched message carries several jobs: it is not the depth.)
    await waitFor(
      async () => {
        const levels = await Promise.all(
          [a, b].map(async (api) => {
            const r = await api.get<{ items: { queue: string; level: string }[] }>('/queues');
            return r.body.items.find((q) => q.queue === 'default')?.level;
          }),
        );
        return levels.every((level) => level === 'critical');
      },
      { what: 'the default queue at depth 3 on both gateways', intervalMs: 250 },
    );

    const replay = await a.post<ErrorBody>(`/dlq/${deadA[0]}/replay`);
    expect([replay.status, replay.body.error.code]).toEqual([429, 'tenant_quota_exceeded']);
    expect(Number(replay.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const retry = await a.post<ErrorBody>(`/jobs/${deadA[1]}/retry`);
    expect([retry.status, retry.body.error.code]).toEqual([429, 'tenant_quota_exceeded']);
    const bulk = await waitFor(
      async () => {
        const r = await a.post<ErrorBody>('/dlq/replay', { all: true });
        return r.status === 429 && r.body.error.code === 'rate_limited' ? undefined : r;
      },
      { what: 'a bulk replay past the rate limit', intervalMs: 300 },
    );
    expect([bulk.status, bulk.body.error.code]).toEqual([429, 'tenant_quota_exceeded']);

    // Tenant B has room in its quota, but the queue is full.
    const full = await b.post<ErrorBody>(`/dlq/${deadB}/replay`);
    expect([full.status, full.body.error.code]).toEqual([503, 'queue_full']);
    expect(Number(full.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

    expect((await a.get<{ items: { id: string }[] }>('/dlq')).body.items.map((j) => j.id).sort()).toEqual(
      [...deadA].sort(),
    );
    expect((await b.job(deadB)).status).toBe('failed');
  });
});
