import type { Pool } from 'pg';
import { TestStack, waitFor, type ServiceProcess, type TestApi, type TestJob } from '@switchyard/testing';
import { switchyard } from './support/cli';
import { expectAllCompleted, jobsDb, submitBatches } from './support/dispatch';

jest.setTimeout(240000);

const LEASE_MS = 2000;

/**
 * Samples, every `everyMs`, how many jobs of `key` are running in the jobs table; `stop()` ends the
 * sampling and returns the largest count seen and the number of samples.
 */
function sampleRunning(db: Pool, key: string, everyMs = 50) {
  let max = 0;
  let samples = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const { rows } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM jobs WHERE concurrency_key = $1 AND status = 'running'`,
        [key],
      );
      max = Math.max(max, rows[0]?.n ?? 0);
      samples++;
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return { max, samples };
    },
  };
}

/**
 * Per-key concurrency (SPEC §11): the dispatchers never let more than a key's limit of its jobs be
 * released or running at once across every worker, and a SIGKILLed worker's slot comes back once
 * its lease expired.
 */
describe('flow control: per-key concurrency', () => {
  let stack: TestStack;
  let api: TestApi;
  let db: Pool;
  const workers: ServiceProcess[] = [];

  beforeAll(async () => {
    stack = await TestStack.create({ SWEEP_INTERVAL_MS: '300', LEASE_MS: String(LEASE_MS) });
    await stack.start(['gateway', 'progress-tracker']);
    api = stack.api();
    db = jobsDb(stack);
  });

  afterEach(async () => {
    for (const worker of workers.splice(0)) await worker.stop();
  });

  afterAll(async () => {
    await db?.end();
    await stack?.destroy();
  });

  it('manages limits: PUT, GET, DELETE, validation and admin scope', async () => {
    const put = await api.request('PUT', '/limits/concurrency/model%3Aa', { max: 3 });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ key: 'model:a', max: 3, inUse: 0, waiting: 0 });
    expect((await api.get('/limits/concurrency/model%3Aa')).body).toMatchObject({ max: 3 });
    const list = await api.get<{ concurrency: { key: string }[] }>('/limits');
    expect(list.body.concurrency.map((k) => k.key)).toContain('model:a');
    const bad = await api.request<{ error: { code: string } }>('PUT', '/limits/concurrency/x', { max: -1 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('validation_failed');
    const long = await api.request<{ error: { code: string } }>(
      'PUT',
      `/limits/concurrency/${'k'.repeat(129)}`,
      {
        max: 1,
      },
    );
    expect(long.status).toBe(400);
    const tenant = stack.api((await stack.createApiKey('limits-tenant')).key);
    expect((await tenant.request('PUT', '/limits/concurrency/model%3Aa', { max: 9 })).status).toBe(403);
    expect((await tenant.get('/limits/concurrency/model%3Aa')).status).toBe(200);
    expect((await api.delete('/limits/concurrency/model%3Aa')).status).toBe(204);
    expect((await api.delete('/limits/concurrency/model%3Aa')).status).toBe(404);
    expect((await api.get('/limits/concurrency/model%3Aa')).body).toMatchObject({ max: null });
    const tooLong = await api.post<{ error: { code: string } }>('/jobs', {
      type: 'synthetic',
      payload: {},
      concurrencyKey: 'k'.repeat(129),
    });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.code).toBe('validation_failed');

    // The CLI: switchyard limits, limits set, limits remove.
    const env = { SWITCHYARD_URL: stack.service('gateway').url, SWITCHYARD_API_KEY: stack.adminKey };
    const set = await switchyard(['limits', 'set', 'model:cli', '4'], env);
    expect(set).toEqual({ code: 0, output: 'model:cli: at most 4 at once (0 in use, 0 waiting)\n' });
    const listed = await switchyard(['limits'], env);
    expect(listed.code).toBe(0);
    expect(listed.output).toMatch(/model:cli\s.*4\s.*0\s.*0/);
    const json = await switchyard(['limits', '--json'], env);
    expect(JSON.parse(json.output)).toMatchObject({ concurrency: [{ key: 'model:cli', max: 4 }] });
    expect((await switchyard(['limits', 'set', 'model:cli', 'many'], env)).code).toBe(2);
    expect(await switchyard(['limits', 'remove', 'model:cli'], env)).toEqual({
      code: 0,
      output: 'model:cli: no limit\n',
    });
    expect((await switchyard(['limits', 'remove', 'model:cli'], env)).code).not.toBe(0);
  });

  it('runs 40 jobs of key gpu-a with a limit of 2 on 3 workers × 8: never more than 2 at once, all complete', async () => {
    expect((await api.request('PUT', '/limits/concurrency/gpu-a', { max: 2 })).status).toBe(200);
    for (let i = 0; i < 3; i++) {
      workers.push(await stack.spawn('worker', { WORKER_CONCURRENCY: '8', LEASE_MS: String(LEASE_MS) }));
    }
    const sampler = sampleRunning(db, 'gpu-a');
    const ids = await submitBatches(api, 40, () => ({
      type: 'synthetic',
      payload: { durationMs: 150 },
      concurrencyKey: 'gpu-a',
    }));
    // While the key is full, a job held back in the backlog says why.
    const held = await api.job<TestJob & { waitingFor?: string; concurrencyKey?: string }>(ids[39]);
    expect(held.concurrencyKey).toBe('gpu-a');
    if (held.status === 'queued') expect(held.waitingFor).toBe('concurrency');
    const limits = await api.get<{
      concurrency: { key: string; max: number; inUse: number; waiting: number }[];
    }>('/limits');
    const gpu = limits.body.concurrency.find((k) => k.key === 'gpu-a');
    expect(gpu?.max).toBe(2);
    expect(gpu?.inUse).toBeLessThanOrEqual(2);
    // GET /queues shows the queue's keys too.
    const queues = await api.get<{
      items: { queue: string; concurrency?: { key: string; max: number }[] }[];
    }>('/queues');
    const defaultQueue = queues.body.items.find((q) => q.queue === 'default');
    expect(defaultQueue?.concurrency).toEqual(
      expect.arrayContaining([expect.objectContaining({ key: 'gpu-a', max: 2 })]),
    );
    await expectAllCompleted(db, ids, 120000);
    const { max, samples } = await sampler.stop();
    expect(samples).toBeGreaterThan(20);
    expect(max).toBeLessThanOrEqual(2);
    // The limit is used, not just respected.
    expect(max).toBe(2);
    // Unkeyed jobs on the same queue are not held back meanwhile.
    const free = await api.submit({ type: 'synthetic', payload: { durationMs: 0 } });
    await api.waitForStatus(free, 'completed', 20000);
  });

  it('frees the slot of a SIGKILLed worker within LEASE_MS + 5 s', async () => {
    expect((await api.request('PUT', '/limits/concurrency/gpu-b', { max: 1 })).status).toBe(200);
    const doomed = await stack.spawn('worker', { WORKER_CONCURRENCY: '8', LEASE_MS: String(LEASE_MS) });
    workers.push(doomed);
    const holder = await api.submit({
      type: 'synthetic',
      payload: { durationMs: 30000, steps: 30 },
      concurrencyKey: 'gpu-b',
    });
    await api.waitForStatus(holder, 'running', 20000);
    const waiting = await api.submit({
      type: 'synthetic',
      payload: { durationMs: 100 },
      concurrencyKey: 'gpu-b',
    });
    const sampler = sampleRunning(db, 'gpu-b');
    // Held back by the full key, though the worker has 7 free slots.
    await waitFor(
      async () => (await api.job<{ waitingFor?: string }>(waiting)).waitingFor === 'concurrency',
      {
        what: 'the second gpu-b job waiting for concurrency',
      },
    );
    const survivor = await stack.spawn('worker', { WORKER_CONCURRENCY: '8', LEASE_MS: String(LEASE_MS) });
    workers.push(survivor);
    expect((await api.job(waiting)).status).toBe('queued');
    const killedAt = Date.now();
    expect(await doomed.stop('SIGKILL')).toBeNull();
    // Some gpu-b job starts again (the holder's next attempt, or the waiting one) once the lease expired.
    await waitFor(
      async () => {
        const { rows } = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM jobs
           WHERE concurrency_key = 'gpu-b' AND status IN ('running', 'completed') AND started_at > $1`,
          [new Date(killedAt)],
        );
        return (rows[0]?.n ?? 0) > 0;
      },
      { timeoutMs: LEASE_MS + 5000, intervalMs: 50, what: 'a gpu-b job started after the kill' },
    );
    expect(Date.now() - killedAt).toBeLessThan(LEASE_MS + 5000);
    // Let the short one through quickly: the holder is cancelled.
    await api.post(`/jobs/${holder}/cancel`);
    await api.waitForStatus(waiting, 'completed', 60000);
    const { max } = await sampler.stop();
    expect(max).toBeLessThanOrEqual(1);
  });
});

/**
 * Fair share between tenants (SPEC §11): within a queue and effective priority, tenants with
 * backlog take turns by weight, starting from what each already holds in flight.
 */
describe('flow control: fair share between tenants', () => {
  let stack: TestStack;
  let db: Pool;

  beforeAll(async () => {
    // Aging off for the test's span: a flood older than PRIORITY_AGING_MS has aged a level above a
    // newcomer's jobs of the same priority, and priority comes before fair share (docs/architecture.md).
    stack = await TestStack.create({ PRIORITY_AGING_MS: '0' });
    await stack.start(['gateway', 'worker', 'progress-tracker'], { WORKER_CONCURRENCY: '8' });
    db = jobsDb(stack);
  });

  afterAll(async () => {
    await db?.end();
    await stack?.destroy();
  });

  const job = () => ({ type: 'synthetic', payload: { durationMs: 50 } });

  /** Start delays (ms, database clock) of `ids`, or null for those not started yet. */
  async function startDelays(ids: string[]): Promise<(number | null)[]> {
    const { rows } = await db.query<{ id: string; delay: number | null }>(
      `SELECT id, extract(epoch FROM started_at - created_at) * 1000 AS delay FROM jobs WHERE id = ANY($1::uuid[])`,
      [ids],
    );
    const byId = new Map(rows.map((r) => [r.id, r.delay === null ? null : Number(r.delay)]));
    return ids.map((id) => byId.get(id) ?? null);
  }

  it('starts every job of a small tenant within 2 s behind a 5,000-job flood; weight 3 gives it ~3 releases per release of the flood', async () => {
    const admin = stack.api();
    const a = stack.api((await stack.createApiKey('tenant-a')).key);
    const b = stack.api((await stack.createApiKey('tenant-b')).key);
    const flood = await submitBatches(a, 5000, job, 4);
    const small = await submitBatches(b, 20, job);
    await waitFor(async () => (await startDelays(small)).every((d) => d !== null), {
      timeoutMs: 30000,
      intervalMs: 100,
      what: 'the small tenant’s 20 jobs started',
    });
    const delays = (await startDelays(small)) as number[];
    expect(Math.max(...delays)).toBeLessThan(2000);

    const put = await admin.request<{ tenant: string; weight: number }>('PUT', '/admin/tenants/tenant-b', {
      weight: 3,
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ tenant: 'tenant-b', weight: 3 });
    expect((await admin.get('/admin/tenants/tenant-a')).body).toMatchObject({ weight: 1 });
    expect((await admin.request('PUT', '/admin/tenants/tenant-b', { weight: 0 })).status).toBe(400);

    const weighted = await submitBatches(b, 400, job);
    await waitFor(async () => (await startDelays(weighted)).every((d) => d !== null), {
      timeoutMs: 60000,
      intervalMs: 200,
      what: 'the weighted tenant’s 400 jobs started',
    });
    // Steady state: the starts between B's 100th and 300th start (both had backlog throughout).
    const { rows } = await db.query<{ tenant: string; n: number }>(
      `WITH b AS (
         SELECT started_at, row_number() OVER (ORDER BY started_at) AS k FROM jobs WHERE id = ANY($1::uuid[])
       ), span AS (
         SELECT (SELECT started_at FROM b WHERE k = 100) AS first, (SELECT started_at FROM b WHERE k = 300) AS last
       )
       SELECT tenant, count(*)::int AS n FROM jobs, span
       WHERE started_at > span.first AND started_at <= span.last GROUP BY tenant`,
      [weighted],
    );
    const counts = Object.fromEntries(rows.map((r) => [r.tenant, r.n]));
    const ratio = (counts['tenant-b'] ?? 0) / Math.max(1, counts['tenant-a'] ?? 0);
    // About 200 (starts in the same millisecond as a bound fall on one side of it).
    expect(counts['tenant-b']).toBeGreaterThan(180);
    // The flood still had backlog all along.
    const { rows: left } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1::uuid[]) AND status = 'queued'`,
      [flood],
    );
    expect(left[0]?.n).toBeGreaterThan(0);
    process.stdout.write(
      `fair share: starts ${JSON.stringify(counts)}, ratio ${ratio.toFixed(2)}; small tenant max start delay ${Math.round(Math.max(...delays))} ms\n`,
    );
    expect(ratio).toBeGreaterThanOrEqual(3 * 0.8);
    expect(ratio).toBeLessThanOrEqual(3 * 1.2);
  });
});
