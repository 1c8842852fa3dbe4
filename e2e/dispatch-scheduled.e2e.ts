import { randomUUID } from 'node:crypto';
import { connect } from 'amqplib';
import type { Pool } from 'pg';
import { amqpNames } from '@switchyard/contracts';
import { TEST_SERVICES, TestStack, waitFor, type TestApi, type TestJob } from '@switchyard/testing';
import { at, expectAllCompleted, jobsDb, submitBatches } from './support/dispatch';

jest.setTimeout(120000);

/**
 * Delayed jobs: `runAt` or `delayMs` keeps a job `scheduled` in PostgreSQL until then; the
 * dispatcher promotes it to `queued` and releases it within 1 s of its time.
 */
describe('delayed jobs: scheduled until runAt, then released within a second', () => {
  let stack: TestStack;
  let api: TestApi;
  let db: Pool;

  beforeAll(async () => {
    stack = await TestStack.create({ WORKER_CONCURRENCY: '32' });
    await stack.start(['gateway', 'progress-tracker']);
    // Two workers of 32 (every service sees it: the gateway's window follows the prefetch) with room
    // for 1,000 no-op jobs to start within the 2 s the test allows.
    await stack.spawn('worker');
    await stack.spawn('worker');
    api = stack.api();
    db = jobsDb(stack);
  });

  afterAll(async () => {
    await db?.end();
    await stack?.destroy();
  });

  const quick = { type: 'synthetic', payload: { durationMs: 0 } };

  it('a job with runAt 3 s ahead is scheduled, listed, shows runAt, and starts 3–4 s after submission', async () => {
    const submittedAt = Date.now();
    const runAt = new Date(submittedAt + 3000).toISOString();
    const response = await api.post<TestJob>('/jobs', { ...quick, dedupe: false, runAt });
    expect(response.status).toBe(202);
    expect(response.body.status).toBe('scheduled');
    expect(response.body.runAt).toBe(runAt);
    const id = response.body.id;

    const view = await api.job(id);
    expect(view.status).toBe('scheduled');
    expect(view.runAt).toBe(runAt);
    expect(view.startedAt).toBeNull();
    const listed = await api.get<{ items: TestJob[] }>('/jobs?status=scheduled&limit=200');
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((j) => j.id)).toContain(id);
    expect(listed.body.items.every((j) => j.status === 'scheduled')).toBe(true);
    // GET /queues counts it as scheduled, not as backlog.
    await waitFor(
      async () => {
        const queues = await api.get<{ items: { queue: string; scheduled: number; backlog: number }[] }>(
          '/queues',
        );
        const row = queues.body.items.find((q) => q.queue === 'default');
        return row?.scheduled === 1 && row.backlog === 0;
      },
      { timeoutMs: 2500, what: 'GET /queues showing one scheduled job' },
    );

    const done = await api.waitForStatus(id, 'completed', 15000);
    const startedAfter = at(done.startedAt) - submittedAt;
    expect(startedAfter).toBeGreaterThanOrEqual(3000);
    expect(startedAfter).toBeLessThanOrEqual(4000);
    // The view keeps runAt after the job ran; history shows it queued (promoted) before it started.
    expect(done.runAt).toBe(runAt);
    // History is projected from the events a moment after the row changes.
    const projected = await api.waitForJob(id, (j) => j.history.some((h) => h.event === 'completed'), 10000);
    const events = projected.history.map((h) => h.event);
    expect(events).toContain('queued');
    expect(events.indexOf('queued')).toBeLessThan(events.indexOf('started'));
    const listedAfter = await api.get<{ items: TestJob[] }>('/jobs?status=scheduled&limit=200');
    expect(listedAfter.body.items.map((j) => j.id)).not.toContain(id);
  });

  it('delayMs: 3000 schedules the job 3 s after submission and starts it 3–4 s after', async () => {
    const submittedAt = Date.now();
    const response = await api.post<TestJob>('/jobs', { ...quick, dedupe: false, delayMs: 3000 });
    expect(response.status).toBe(202);
    expect(response.body.status).toBe('scheduled');
    const runAt = at(response.body.runAt);
    expect(runAt).toBeGreaterThanOrEqual(submittedAt + 3000);
    expect(runAt).toBeLessThanOrEqual(Date.now() + 3000);
    const done = await api.waitForStatus(response.body.id, 'completed', 15000);
    const startedAfter = at(done.startedAt) - submittedAt;
    expect(startedAfter).toBeGreaterThanOrEqual(3000);
    expect(startedAfter).toBeLessThanOrEqual(4000);
  });

  it('runAt in the past or delayMs 0 queues at once; runAt and delayMs together are refused', async () => {
    const past = await api.post<TestJob>('/jobs', {
      ...quick,
      dedupe: false,
      runAt: new Date(Date.now() - 60000).toISOString(),
    });
    expect(past.status).toBe(202);
    expect(past.body.status).not.toBe('scheduled');
    const zero = await api.post<TestJob>('/jobs', { ...quick, dedupe: false, delayMs: 0 });
    expect(zero.status).toBe(202);
    expect(zero.body.status).not.toBe('scheduled');
    await api.waitForStatus(past.body.id, 'completed', 5000);
    await api.waitForStatus(zero.body.id, 'completed', 5000);
    const both = await api.post<{ error: { code: string } }>('/jobs', {
      ...quick,
      dedupe: false,
      runAt: new Date(Date.now() + 5000).toISOString(),
      delayMs: 5000,
    });
    expect(both.status).toBe(400);
    expect(both.body.error.code).toBe('validation_failed');
  });

  it('cancelled while scheduled, a job never starts', async () => {
    const runAt = Date.now() + 2000;
    const id = await api.submit({ ...quick, runAt: new Date(runAt).toISOString() });
    expect((await api.job(id)).status).toBe('scheduled');
    const cancelled = await api.delete<TestJob>(`/jobs/${id}`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    // The point is what happens at and after runAt: wait past it, plus the dispatcher's second.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, runAt + 2000 - Date.now())));
    const view = await api.job(id);
    expect(view.status).toBe('cancelled');
    expect(view.startedAt).toBeNull();
    expect(view.attempts).toBe(0);
    expect(view.history.map((h) => h.event)).not.toContain('started');
    const { rows } = await db.query<{ releases: number }>(`SELECT releases FROM jobs WHERE id = $1`, [id]);
    expect(rows[0]?.releases).toBe(0);
  });

  it('1,000 jobs scheduled for the same second all start within 2 s of it', async () => {
    // The next whole second at least 5 s ahead: time enough to submit ten batches first.
    const runAt = Math.ceil((Date.now() + 5000) / 1000) * 1000;
    const ids = await submitBatches(api, 1000, () => ({ ...quick, runAt: new Date(runAt).toISOString() }), 4);
    expect(Date.now()).toBeLessThan(runAt); // otherwise the test measured nothing
    const { rows: scheduled } = await db.query<{ n: string }>(
      `SELECT count(*) AS n FROM jobs WHERE id = ANY($1::uuid[]) AND status = 'scheduled'`,
      [ids],
    );
    expect(Number(scheduled[0].n)).toBe(1000);
    await expectAllCompleted(db, ids, 30000);
    const { rows } = await db.query<{ first: number; last: number }>(
      `SELECT extract(epoch FROM min(started_at)) * 1000 AS first, extract(epoch FROM max(started_at)) * 1000 AS last
       FROM jobs WHERE id = ANY($1::uuid[])`,
      [ids],
    );
    expect(Number(rows[0].first)).toBeGreaterThanOrEqual(runAt);
    expect(Number(rows[0].last) - runAt).toBeLessThanOrEqual(2000);
  });

  it('batch items carry runAt and delayMs per item', async () => {
    const submittedAt = Date.now();
    const response = await api.post<{ jobs: TestJob[] }>('/jobs/batch', {
      jobs: [
        { ...quick, dedupe: false, delayMs: 2000 },
        { ...quick, dedupe: false },
      ],
    });
    expect(response.status).toBe(202);
    const [delayed, now] = response.body.jobs;
    expect(delayed.status).toBe('scheduled');
    expect(now.status).not.toBe('scheduled');
    const done = await api.waitForStatus(delayed.id, 'completed', 10000);
    expect(at(done.startedAt) - submittedAt).toBeGreaterThanOrEqual(2000);
    await waitFor(async () => (await api.job(now.id)).status === 'completed', { what: 'the undelayed item' });
  });

  it('an intake message with delayMs makes a scheduled job too', async () => {
    const key = (await stack.createApiKey('scheduled-intake')).key;
    const marker = `intake-${randomUUID()}`;
    const connection = await connect(TEST_SERVICES.amqp);
    const submittedAt = Date.now();
    try {
      const channel = await connection.createChannel();
      channel.publish(
        amqpNames(stack.id).intakeExchange,
        'submit',
        Buffer.from(JSON.stringify({ ...quick, delayMs: 2000, metadata: { marker } })),
        { contentType: 'application/json', headers: { 'x-api-key': key } },
      );
      await channel.close();
    } finally {
      await connection.close();
    }
    const id = await waitFor(
      async () =>
        (await db.query<{ id: string }>(`SELECT id FROM jobs WHERE metadata->>'marker' = $1`, [marker]))
          .rows[0]?.id,
      { what: 'the job from the intake message' },
    );
    expect((await api.job(id)).status).toBe('scheduled');
    const done = await api.waitForStatus(id, 'completed', 10000);
    expect(at(done.startedAt) - submittedAt).toBeGreaterThanOrEqual(2000);
    expect(done.runAt).not.toBeNull();
  });

  it('scheduled jobs count against TENANT_MAX_SCHEDULED_JOBS, not the active-job quota', async () => {
    const gateway = await stack.spawn('gateway', { TENANT_MAX_SCHEDULED_JOBS: '3' });
    try {
      const tenant = stack.api((await stack.createApiKey('scheduled-quota')).key, gateway);
      const later = { ...quick, runAt: new Date(Date.now() + 60000).toISOString() };
      const ids = [await tenant.submit(later), await tenant.submit(later), await tenant.submit(later)];
      const refused = await tenant.post<{ error: { code: string } }>('/jobs', { ...later, dedupe: false });
      expect(refused.status).toBe(429);
      expect(refused.body.error.code).toBe('tenant_quota_exceeded');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      // A job to run now is still accepted: it counts as active, not scheduled.
      const now = await tenant.submit(quick);
      await tenant.waitForStatus(now, 'completed', 10000);
      for (const id of ids) expect((await tenant.delete(`/jobs/${id}`)).status).toBe(200);
    } finally {
      await gateway.stop('SIGTERM');
    }
  });
});
