import { connect } from 'amqplib';
import type { Pool } from 'pg';
import { TEST_SERVICES, TestStack, waitFor, type TestApi } from '@switchyard/testing';
import { counterValue, expectAllCompleted, jobsDb, statusCounts, submitBatches } from './support/dispatch';

jest.setTimeout(120000);

interface QueueRow {
  queue: string;
  paused: boolean;
  backlog: number;
  released: number;
  scheduled: number;
  running: number;
}

/**
 * Pausing a queue: it keeps accepting jobs into the PostgreSQL backlog and releases none to
 * RabbitMQ until it is resumed; the state is stored, so a gateway restart keeps it.
 */
describe('pause and resume a queue', () => {
  let stack: TestStack;
  let api: TestApi;
  let db: Pool;

  beforeAll(async () => {
    stack = await TestStack.create();
    await stack.start(['gateway', 'worker', 'progress-tracker', 'metrics'], { WORKER_CONCURRENCY: '8' });
    api = stack.api();
    db = jobsDb(stack);
  });

  afterAll(async () => {
    await db?.end();
    await stack?.destroy();
  });

  const job = () => ({ type: 'synthetic', payload: { durationMs: 20 } });

  async function queueRow(name = 'default'): Promise<QueueRow> {
    const response = await api.get<{ items: QueueRow[] }>('/queues');
    expect(response.status).toBe(200);
    const row = response.body.items.find((q) => q.queue === name);
    if (!row) throw new Error(`GET /queues has no row for ${name}`);
    return row;
  }

  /** Messages RabbitMQ holds for the work queue (ready; the worker holds none while nothing was released). */
  async function workQueueMessages(): Promise<number> {
    const connection = await connect(TEST_SERVICES.amqp);
    try {
      const channel = await connection.createChannel();
      return (await channel.checkQueue(`${stack.id}.jobs.default`)).messageCount;
    } finally {
      await connection.close();
    }
  }

  /** Polls for `ms` (the duration is the point): every job stays queued, none released or started. */
  async function expectNoneStartFor(ids: string[], ms: number): Promise<void> {
    const until = Date.now() + ms;
    let polls = 0;
    while (Date.now() < until) {
      const { rows } = await db.query<{ status: string; started: string; released: string }>(
        `SELECT status, count(started_at) AS started, count(dispatched_at) AS released
         FROM jobs WHERE id = ANY($1::uuid[]) GROUP BY status`,
        [ids],
      );
      expect(rows.map((r) => ({ ...r, started: Number(r.started), released: Number(r.released) }))).toEqual([
        { status: 'queued', started: 0, released: 0 },
      ]);
      polls += 1;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(polls).toBeGreaterThan(ms / 500);
    expect(await workQueueMessages()).toBe(0);
  }

  it('admin scope only; unknown queue → 404', async () => {
    const tenant = await stack.createApiKey('pause-tenant');
    const forbidden = await stack.api(tenant.key).post('/queues/default/pause');
    expect(forbidden.status).toBe(403);
    const unknown = await api.post<{ error: { code: string } }>('/queues/no-such-queue/pause');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('not_found');
    expect((await queueRow()).paused).toBe(false);
  });

  it('a paused queue accepts 100 jobs and starts none for 5 s; after resume all complete', async () => {
    const paused = await api.post<QueueRow>('/queues/default/pause');
    expect(paused.status).toBe(200);
    expect(paused.body.paused).toBe(true);
    // Idempotent.
    expect((await api.post<QueueRow>('/queues/default/pause')).status).toBe(200);

    const ids = await submitBatches(api, 100, job);
    await expectNoneStartFor(ids, 5000);
    const row = await waitFor(
      async () => {
        const r = await queueRow();
        return r.backlog === 100 ? r : undefined;
      },
      { timeoutMs: 5000, what: 'GET /queues showing the backlog of 100' },
    );
    expect(row.paused).toBe(true);
    expect(row.released).toBe(0);
    // The metrics service exports the same: paused 1, a backlog of 100, nothing released.
    const metrics = stack.service('metrics').url;
    await waitFor(
      async () =>
        (await counterValue(metrics, 'switchyard_queue_paused', { queue: 'default' })) === 1 &&
        (await counterValue(metrics, 'switchyard_queue_depth', { queue: 'default', state: 'backlog' })) ===
          100 &&
        (await counterValue(metrics, 'switchyard_queue_depth', { queue: 'default', state: 'released' })) ===
          0,
      { timeoutMs: 10000, intervalMs: 250, what: 'the metrics service showing the paused backlog' },
    );

    const resumed = await api.post<QueueRow>('/queues/default/resume');
    expect(resumed.status).toBe(200);
    expect(resumed.body.paused).toBe(false);
    await expectAllCompleted(db, ids, 30000);
    expect((await queueRow()).paused).toBe(false);
    await waitFor(
      async () => (await counterValue(metrics, 'switchyard_queue_paused', { queue: 'default' })) === 0,
      {
        timeoutMs: 10000,
        intervalMs: 250,
        what: 'the metrics service showing the queue resumed',
      },
    );
  });

  it('running jobs finish while the queue is paused', async () => {
    const [running] = await submitBatches(api, 1, () => ({
      type: 'synthetic',
      payload: { durationMs: 1500 },
    }));
    await api.waitForStatus(running, 'running', 5000);
    expect((await api.post('/queues/default/pause')).status).toBe(200);
    try {
      await api.waitForStatus(running, 'completed', 10000);
    } finally {
      expect((await api.post('/queues/default/resume')).status).toBe(200);
    }
  });

  it('the pause survives a gateway restart', async () => {
    expect((await api.post('/queues/default/pause')).status).toBe(200);
    const gateway = stack.service('gateway');
    expect(await gateway.stop('SIGTERM')).toBe(0);
    await gateway.start();
    api = stack.api();

    const ids = await submitBatches(api, 100, job);
    expect((await queueRow()).paused).toBe(true);
    await expectNoneStartFor(ids, 3000);

    expect((await api.post('/queues/default/resume')).status).toBe(200);
    await expectAllCompleted(db, ids, 30000);
    expect(await statusCounts(db, ids)).toEqual({ completed: 100 });
  });
});
