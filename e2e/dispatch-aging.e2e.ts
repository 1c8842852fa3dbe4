import type { Pool } from 'pg';
import { TestStack, type ServiceProcess, type TestApi } from '@switchyard/testing';
import { at, expectAllCompleted, jobsDb, submitBatches } from './support/dispatch';

jest.setTimeout(120000);

/**
 * Priority aging: a queued job's effective priority rises one level per PRIORITY_AGING_MS waited,
 * so a priority-0 job is not starved by a stream of priority-9 jobs the workers cannot keep up
 * with. One worker runs two 50 ms jobs at a time (≤ 40 jobs/s); the stream submits 60 a second.
 */
describe('priority aging', () => {
  let stack: TestStack;
  let db: Pool;
  let gateway: ServiceProcess | undefined;

  beforeAll(async () => {
    // Every service sees the worker's concurrency, so the gateway's automatic window (2 × consumers
    // × prefetch) is 4: what a priority-0 job released at the window's tail waits behind.
    stack = await TestStack.create({ WORKER_CONCURRENCY: '2' });
    await stack.start(['progress-tracker']);
    await stack.spawn('worker');
    db = jobsDb(stack);
  });

  afterEach(async () => {
    await gateway?.stop('SIGTERM');
    gateway = undefined;
  });

  afterAll(async () => {
    await db?.end();
    await stack?.destroy();
  });

  const urgent = () => ({ type: 'synthetic', priority: 9, payload: { durationMs: 50 } });

  /**
   * Submits a burst of priority-9 jobs (more than the window and the running slots, so the workers
   * are busy and the window full: the low job is not released at once), then the priority-0 job, then a stream of 6 priority-9 jobs every 100 ms for
   * `streamMs`. Returns the low job's id, every urgent id, and when the stream ended.
   */
  async function starve(api: TestApi, streamMs: number) {
    const urgentIds = await submitBatches(api, 20, urgent);
    const low = await api.submit({ type: 'synthetic', priority: 0, payload: { durationMs: 50 } });
    const lowSubmittedAt = Date.now();
    const streamEnd = lowSubmittedAt + streamMs;
    while (Date.now() < streamEnd) {
      const tick = Date.now();
      urgentIds.push(...(await submitBatches(api, 6, urgent)));
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 100 - (Date.now() - tick))));
    }
    return { low, lowSubmittedAt, urgentIds, streamEndedAt: Date.now() };
  }

  /** Whether the stream really outran the worker: priority-9 jobs still queued when it ended. */
  async function stillQueued(ids: string[]): Promise<number> {
    const { rows } = await db.query<{ n: string }>(
      `SELECT count(*) AS n FROM jobs WHERE id = ANY($1::uuid[]) AND status = 'queued'`,
      [ids],
    );
    return Number(rows[0].n);
  }

  it('PRIORITY_AGING_MS=200: a priority-0 job starts within 3 s despite the stream', async () => {
    gateway = await stack.spawn('gateway', { PRIORITY_AGING_MS: '200' });
    const api = stack.api(stack.adminKey, gateway);
    const { low, lowSubmittedAt, urgentIds } = await starve(api, 8000);
    expect(await stillQueued(urgentIds)).toBeGreaterThan(50);
    const job = await api.waitForStatus(low, ['running', 'completed'], 30000);
    const waited = at(job.startedAt) - lowSubmittedAt;
    expect(waited).toBeLessThanOrEqual(3000);
    // It was held back until aging lifted it to 9 (9 × 200 ms): the stream did outrank it until then.
    expect(waited).toBeGreaterThanOrEqual(1500);
    await expectAllCompleted(db, [low, ...urgentIds], 60000);
  });

  it('PRIORITY_AGING_MS=0: the priority-0 job waits until the stream has ended', async () => {
    gateway = await stack.spawn('gateway', { PRIORITY_AGING_MS: '0' });
    const api = stack.api(stack.adminKey, gateway);
    const { low, urgentIds, streamEndedAt } = await starve(api, 8000);
    expect(await stillQueued(urgentIds)).toBeGreaterThan(50);
    expect((await api.job(low)).status).toBe('queued');
    await expectAllCompleted(db, [low, ...urgentIds], 60000);
    const job = await api.job(low);
    expect(at(job.startedAt)).toBeGreaterThan(streamEndedAt);
    // Without aging it is the last to start (give or take the jobs the worker held at once).
    const { rows } = await db.query<{ later: string }>(
      `SELECT count(*) AS later FROM jobs WHERE id = ANY($1::uuid[]) AND started_at > $2`,
      [urgentIds, job.startedAt],
    );
    expect(Number(rows[0].later)).toBeLessThanOrEqual(4);
  });
});
