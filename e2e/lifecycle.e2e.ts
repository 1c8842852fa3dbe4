import { connect } from 'amqplib';
import {
  TestApi,
  TestStack,
  TEST_SERVICES,
  waitFor,
  type ServiceProcess,
  type TestJob,
} from '@switchyard/testing';

import { expectPriorityOrder } from './support/priority';

jest.setTimeout(180000);

/** The dispatcher's window: at most this many jobs are in RabbitMQ, beyond priority reordering. */
const WINDOW = 4;

const at = (iso: string | null | undefined) => (iso ? new Date(iso).getTime() : NaN);

/** Times of a job's history events of one kind, in attempt order. */
const eventTimes = (job: TestJob, event: string) =>
  job.history.filter((h) => h.event === event).map((h) => at(h.at));

describe('job lifecycle: priority, retries, dead letters, timeouts, cancellation, duplicates', () => {
  let stack: TestStack;
  let api: TestApi;
  let worker: ServiceProcess;

  beforeAll(async () => {
    stack = await TestStack.create({ CANCEL_GRACE_MS: '5000', DISPATCH_WINDOW: String(WINDOW) });
    await stack.start(['gateway', 'progress-tracker']);
    api = new TestApi(stack.service('gateway').url);
  });

  afterAll(async () => {
    await stack?.destroy();
  });

  afterEach(async () => {
    await worker?.stop('SIGTERM');
  });

  it('starts higher priorities first and equal priorities in submission order while the worker is saturated', async () => {
    await expectPriorityOrder(stack, api, WINDOW);
  });

  it('retries with the backoff formula, completes on attempt 3, and dead-letters exhausted jobs for replay', async () => {
    worker = await stack.spawn('worker');
    const flaky = await api.submit({ type: 'synthetic', payload: { failAttempts: 2 } });
    const doomed = await api.submit({ type: 'synthetic', maxAttempts: 3, payload: { fail: 'retryable' } });

    const done = await api.waitForStatus(flaky, 'completed', 30000);
    expect(done.attempts).toBe(3);
    expect(done.result).toEqual({ ok: true, attempt: 3 });
    await waitFor(async () => (await api.job(flaky)).history.some((h) => h.event === 'completed'), {
      what: 'history',
    });
    const history = await api.job(flaky);
    const failedAt = eventTimes(history, 'retrying');
    const startedAt = eventTimes(history, 'started');
    expect(failedAt).toHaveLength(2);
    expect(startedAt).toHaveLength(3);
    // delay = min(60 s, 1 s × 2^(attempt−1)) × (1 ± 10 %), plus delivery overhead.
    [1000, 2000].forEach((base, i) => {
      const gap = startedAt[i + 1] - failedAt[i];
      expect(gap).toBeGreaterThanOrEqual(base * 0.9 - 10);
      expect(gap).toBeLessThanOrEqual(base * 1.1 + 400);
    });

    const failed = await api.waitForStatus(doomed, 'failed', 30000);
    expect(failed).toMatchObject({
      attempts: 3,
      deadLettered: true,
      error: { code: 'retryable_error', retryable: true },
    });
    const dlq = await api.get<{ items: TestJob[] }>('/dlq');
    expect(dlq.body.items.map((j) => j.id)).toContain(doomed);
    expect(dlq.body.items.map((j) => j.id)).not.toContain(flaky);

    const replay = await api.post<TestJob>(`/dlq/${doomed}/replay`);
    expect(replay.status).toBe(202);
    expect(replay.body).toMatchObject({ status: 'queued', attempts: 0, deadLettered: false });
    await api.waitForJob(doomed, (j) => j.attempts >= 1 && j.status !== 'queued');
    expect((await api.get<{ items: TestJob[] }>('/dlq')).body.items.map((j) => j.id)).not.toContain(doomed);
    expect((await api.post(`/dlq/${flaky}/replay`)).status).toBe(404);
  });

  it('fails a job with `timeout` when it outlives timeoutMs, also when it ignores its signal', async () => {
    worker = await stack.spawn('worker');
    const polite = await api.submit({
      type: 'synthetic',
      timeoutMs: 300,
      maxAttempts: 1,
      payload: { durationMs: 5000 },
    });
    const stubborn = await api.submit({
      type: 'synthetic',
      timeoutMs: 300,
      maxAttempts: 1,
      payload: { durationMs: 5000, ignoreAbort: true },
    });
    for (const id of [polite, stubborn]) {
      const job = await api.waitForStatus(id, 'failed', 10000);
      expect(job.error?.code).toBe('timeout');
      expect(at(job.finishedAt) - at(job.startedAt)).toBeLessThan(4000);
    }
  });

  it('cancels: a queued job never starts, a running one (even ignoring its signal) ends within 5 s, a completed one is 409', async () => {
    worker = await stack.spawn('worker', { WORKER_CONCURRENCY: '2' });
    const runners = await Promise.all([
      api.submit({ type: 'synthetic', payload: { durationMs: 30000, steps: 30 } }),
      api.submit({ type: 'synthetic', payload: { durationMs: 30000, steps: 30, ignoreAbort: true } }),
    ]);
    await Promise.all(runners.map((id) => api.waitForStatus(id, 'running')));
    const waiting = await api.submit({ type: 'synthetic', payload: {} });
    const cancelledQueued = await api.delete<TestJob>(`/jobs/${waiting}`);
    expect(cancelledQueued.status).toBe(200);
    expect(cancelledQueued.body.status).toBe('cancelled');

    for (const [i, id] of runners.entries()) {
      const requested = Date.now();
      const response =
        i === 0 ? await api.delete<TestJob>(`/jobs/${id}`) : await api.post<TestJob>(`/jobs/${id}/cancel`);
      expect(response.status).toBe(202);
      expect(response.body.cancelRequested).toBe(true);
      await api.waitForStatus(id, 'cancelled', 5000);
      expect(Date.now() - requested).toBeLessThan(5000);
    }
    // With both slots free again, the cancelled queued job is still never started.
    const after = await api.submit({ type: 'synthetic', payload: {} });
    await api.waitForStatus(after, 'completed');
    expect((await api.job(waiting)).startedAt).toBeNull();
    const conflict = await api.delete<{ error: { code: string } }>(`/jobs/${after}`);
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('not_cancellable');
    expect((await api.delete('/jobs/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    const retried = await api.post<TestJob>(`/jobs/${waiting}/retry`);
    expect(retried.status).toBe(202);
    await api.waitForStatus(waiting, 'completed');
    expect((await api.post<{ error: { code: string } }>(`/jobs/${after}/retry`)).body.error.code).toBe(
      'not_retryable',
    );
  });

  it('acks and ignores a duplicate delivery of a finished job', async () => {
    worker = await stack.spawn('worker');
    const id = await api.submit({ type: 'synthetic', payload: { steps: 2 } });
    const before = await api.waitForJob(id, (j) => j.status === 'completed' && j.history.length === 5);
    const connection = await connect(TEST_SERVICES.amqp);
    const channel = await connection.createConfirmChannel();
    channel.publish(
      `${stack.id}.jobs`,
      'default',
      Buffer.from(JSON.stringify({ jobId: id, tenant: 'default', type: 'synthetic', queue: 'default' })),
      { persistent: true, contentType: 'application/json', priority: 5 },
    );
    await channel.waitForConfirms();
    await connection.close();
    // A job submitted after the duplicate, at the same priority, is delivered after it (FIFO).
    await api.waitForStatus(await api.submit({ type: 'synthetic', payload: {} }), 'completed');
    const after = await api.job(id);
    expect(after).toEqual(before);
  });
});
