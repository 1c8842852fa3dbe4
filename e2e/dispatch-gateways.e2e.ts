import type { Pool } from 'pg';
import { TestStack, type ServiceProcess, type TestApi } from '@switchyard/testing';
import { counterValue, expectAllCompleted, jobsDb, submitBatches } from './support/dispatch';

jest.setTimeout(180000);

/**
 * Several gateways dispatch the same queue: a job is released once per attempt. With re-release
 * pushed far out (REDISPATCH_AFTER_MS = 10 min), every job that ran once has `releases` = 1,
 * counted by the release statement itself in `jobs.releases`.
 */
describe('two gateways dispatching one queue', () => {
  let stack: TestStack;
  let db: Pool;
  let gateways: ServiceProcess[];
  let apis: TestApi[];

  beforeAll(async () => {
    stack = await TestStack.create({ REDISPATCH_AFTER_MS: '600000', WORKER_CONCURRENCY: '16' });
    await stack.start(['gateway', 'progress-tracker']);
    gateways = [stack.service('gateway'), await stack.spawn('gateway')];
    apis = gateways.map((g) => stack.api(stack.adminKey, g));
    db = jobsDb(stack);
  });

  afterAll(async () => {
    await db?.end();
    await stack?.destroy();
  });

  const quick = () => ({ type: 'synthetic', payload: { durationMs: 5 } });

  async function releaseCounts(ids: string[]) {
    const { rows } = await db.query<{
      id: string;
      releases: number;
      released_attempt: number | null;
      attempts: number;
    }>(`SELECT id, releases, released_attempt, attempts FROM jobs WHERE id = ANY($1::uuid[])`, [ids]);
    return rows;
  }

  async function expectReleasedOnce(ids: string[]): Promise<void> {
    const rows = await releaseCounts(ids);
    expect(rows).toHaveLength(ids.length);
    const histogram: Record<string, number> = {};
    for (const r of rows) histogram[String(r.releases)] = (histogram[String(r.releases)] ?? 0) + 1;
    expect(histogram).toEqual({ '1': ids.length });
    expect(rows.filter((r) => r.attempts !== 1 || r.released_attempt !== 0)).toEqual([]);
  }

  it('2,000 jobs submitted through both while the workers run: each released exactly once', async () => {
    const workers = [await stack.spawn('worker'), await stack.spawn('worker')];
    try {
      const ids = await submitBatches(apis, 2000, quick, 4);
      await expectAllCompleted(db, ids, 90000);
      await expectReleasedOnce(ids);
    } finally {
      for (const w of workers) await w.stop('SIGTERM');
    }
  });

  it('a backlog of 2,000 built through both, then drained while both release: each released exactly once', async () => {
    const releasedBefore = await Promise.all(
      gateways.map((g) => counterValue(g.url, 'switchyard_dispatch_released_total', { queue: 'default' })),
    );
    // No worker yet: the jobs wait in the PostgreSQL backlog beyond the window.
    const ids = await submitBatches(apis, 2000, quick, 4);
    const workers = [await stack.spawn('worker'), await stack.spawn('worker')];
    try {
      await expectAllCompleted(db, ids, 90000);
      await expectReleasedOnce(ids);
    } finally {
      for (const w of workers) await w.stop('SIGTERM');
    }
    // Both gateways took part in the drain, and between them released each job once.
    const released = await Promise.all(
      gateways.map((g) => counterValue(g.url, 'switchyard_dispatch_released_total', { queue: 'default' })),
    );
    const delta = released.map((n, i) => n - releasedBefore[i]);
    expect(delta[0] + delta[1]).toBe(2000);
    expect(Math.min(...delta)).toBeGreaterThan(0);
  });

  it('a job submitted to an idle queue is released by its own insert (no release statement), once', async () => {
    const worker = await stack.spawn('worker');
    try {
      const before = await counterValue(gateways[0].url, 'switchyard_dispatch_released_total', { queue: 'default' });
      const ids: string[] = [];
      // One at a time, each finished before the next: the queue is idle at every submission.
      for (let i = 0; i < 10; i++) {
        const id = await apis[0].submit(quick());
        ids.push(id);
        await apis[0].waitForStatus(id, ['completed'], 30000);
      }
      await expectReleasedOnce(ids);
      // Released in the insert's own transaction: the same now() as created_at (which keeps
      // milliseconds). A release statement after the commit would stamp a later time.
      const { rows } = await db.query<{ same: boolean }>(
        `SELECT dispatched_at::timestamptz(3) IS NOT DISTINCT FROM created_at AS same FROM jobs WHERE id = ANY($1::uuid[])`,
        [ids],
      );
      expect(rows.map((r) => r.same)).toEqual(ids.map(() => true));
      const after = await counterValue(gateways[0].url, 'switchyard_dispatch_released_total', { queue: 'default' });
      expect(after - before).toBe(10);
    } finally {
      await worker.stop('SIGTERM');
    }
  });
});
