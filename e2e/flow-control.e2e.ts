import type { Pool } from 'pg';
import { TestStack, waitFor, type ServiceProcess, type TestApi, type TestJob } from '@switchyard/testing';
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
