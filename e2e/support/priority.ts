import type { TestApi, TestStack } from '@switchyard/testing';
import { expectAllCompleted, jobsDb } from './dispatch';

/** The priority test, shared by the single-broker lifecycle suite and the cluster suite. */

/**
 * With one worker of concurrency 1 busy on a blocker, submits 300 jobs of mixed priorities and
 * checks the order they start in: a job already queued when a more urgent one arrived starts
 * after it, and equal priorities start in submission order. `window` is the stack's
 * DISPATCH_WINDOW: those first few jobs are in RabbitMQ before the urgent ones come, out of reach
 * of any reordering. The order comes from the dispatcher's release order alone, so it holds on
 * quorum queues (no per-message priority) as on classic ones.
 */
export async function expectPriorityOrder(stack: TestStack, api: TestApi, window: number): Promise<void> {
  const worker = await stack.spawn('worker', { WORKER_CONCURRENCY: '1' });
  try {
    // The blocker holds the only slot until every job is submitted (however long that takes on a
    // loaded machine), then is cancelled: the 300 jobs wait in the backlog, all of them known
    // before the worker frees up.
    const blocker = await api.submit({ type: 'synthetic', payload: { durationMs: 120000 } });
    await api.waitForStatus(blocker, 'running');
    const priorities = [2, 5, 9, 7, 0, 9, 2, 5];
    const ids: { id: string; priority: number; index: number }[] = [];
    for (let index = 0; index < 300; index++) {
      const priority = priorities[index % priorities.length];
      ids.push({
        id: await api.submit({ type: 'synthetic', priority, payload: {}, metadata: { index } }),
        priority,
        index,
      });
    }
    const cancel = await api.delete(`/jobs/${blocker}`);
    expect(cancel.status).toBe(202); // a running job: cancel requested, the worker aborts it
    // One query per poll rather than 300 pollers, which would load the gateway they measure.
    const db = jobsDb(stack);
    let times: Map<string, { startedAt: number; createdAt: number; finishedAt: number }>;
    try {
      await expectAllCompleted(
        db,
        ids.map((s) => s.id),
        90000,
      );
      const { rows } = await db.query<{
        id: string;
        started: string;
        created: string;
        finished: string | null;
      }>(
        `SELECT id, extract(epoch FROM started_at) * 1000 AS started, extract(epoch FROM created_at) * 1000 AS created,
                extract(epoch FROM finished_at) * 1000 AS finished
           FROM jobs WHERE id = ANY($1::uuid[])`,
        [[blocker, ...ids.map((s) => s.id)]],
      );
      times = new Map(
        rows.map((r) => [
          r.id,
          { startedAt: Number(r.started), createdAt: Number(r.created), finishedAt: Number(r.finished) },
        ]),
      );
    } finally {
      await db.end();
    }
    const blockerDone = times.get(blocker)?.finishedAt ?? NaN;
    const started = ids.map((s) => ({ ...s, ...times.get(s.id)! }));
    expect(blockerDone).toBeLessThan(Math.min(...started.map((s) => s.startedAt)));
    // A job that was already queued when a more urgent one arrived starts after it: every
    // priority-9 job before any queued priority-2 job, and so for every pair of priorities. The
    // margin covers the moment between a job's commit (createdAt) and its publish. The first
    // `window` jobs were released to RabbitMQ while the worker was busy, before the urgent ones
    // came: those are out of reach of any reordering (released by passes that may coalesce, so
    // they are among the first 2 × window submitted).
    const queuedWhenArrived = (late: { startedAt: number; index: number }, urgent: { createdAt: number }) =>
      late.index >= 2 * window && late.startedAt > urgent.createdAt + 200;
    for (const urgent of started) {
      for (const other of started.filter(
        (s) => s.priority < urgent.priority && queuedWhenArrived(s, urgent),
      )) {
        expect(urgent.startedAt).toBeLessThanOrEqual(other.startedAt);
      }
    }
    // Within a priority, jobs start in submission order.
    for (const priority of new Set(priorities)) {
      const same = started
        .filter((s) => s.priority === priority)
        .sort((a, b) => a.startedAt - b.startedAt || a.index - b.index);
      expect(same.map((s) => s.index)).toEqual(
        [...same].sort((a, b) => a.index - b.index).map((s) => s.index),
      );
    }
  } finally {
    await worker.stop('SIGTERM');
  }
}
