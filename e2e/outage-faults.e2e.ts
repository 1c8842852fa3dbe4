import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connect } from 'amqplib';
import Redis from 'ioredis';
import { Pool } from 'pg';
import {
  TEST_SERVICES,
  TestApi,
  TestStack,
  waitFor,
  type ServiceProcess,
  type TestJob,
} from '@switchyard/testing';
import { expectNoOverlappingAttempts, pgctl } from './support/outages';

jest.setTimeout(180000);

const run = promisify(execFile);

/**
 * Each scenario stops one dependency for a few seconds under load, then checks what a user relies
 * on: every job accepted before or during the outage completes, none stays queued or running,
 * none ran twice at once, and no dispatch message was dead-lettered. The services are always
 * started again in `finally`, whatever the test did.
 */
describe('dependency outages: nothing accepted is stranded, lost or run twice at once', () => {
  let stack: TestStack;
  let api: TestApi;
  let db: Pool;
  let workers: ServiceProcess[] = [];

  beforeAll(async () => {
    stack = await TestStack.create({ SWEEP_INTERVAL_MS: '500', OUTBOX_MAX_DELAY_MS: '1000' });
    await stack.start(['gateway', 'progress-tracker']);
    api = new TestApi(stack.service('gateway').url);
    db = new Pool({ connectionString: stack.db.url, max: 2 });
    // Connections die with the database in the PostgreSQL scenario; the pool makes new ones.
    db.on('error', () => undefined);
    workers = [
      await stack.spawn('worker', { WORKER_CONCURRENCY: '8' }),
      await stack.spawn('worker', { WORKER_CONCURRENCY: '8' }),
    ];
  });

  afterAll(async () => {
    for (const worker of workers) await worker.stop();
    await db?.end();
    await stack?.destroy();
  });

  const synthetic = { type: 'synthetic', payload: { durationMs: 300, steps: 2 }, dedupe: false };

  /** Submits `count` jobs in batches of 100; returns the ids of the accepted ones. */
  async function submitBatches(count: number): Promise<string[]> {
    const ids: string[] = [];
    for (let left = count; left > 0; left -= 100) {
      const jobs = Array.from({ length: Math.min(100, left) }, () => synthetic);
      const response = await api.post<{ jobs: { id: string }[] }>('/jobs/batch', { jobs });
      if (response.status !== 202) throw new Error(`batch answered ${response.status}`);
      ids.push(...response.body.jobs.map((j) => j.id));
    }
    return ids;
  }

  /** Submits one job at a time until `stop()` says so; every 202 is an accepted job. */
  function submitWhile(accepted: string[], statuses: number[]) {
    let running = true;
    const done = (async () => {
      while (running) {
        try {
          const response = await api.post<TestJob>('/jobs', synthetic);
          statuses.push(response.status);
          if (response.status === 202) accepted.push(response.body.id);
        } catch {
          statuses.push(0); // the gateway itself did not answer
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    return async () => {
      running = false;
      await done;
    };
  }

  async function statusCounts(ids: string[]): Promise<Record<string, number>> {
    const { rows } = await db.query<{ status: string; n: string }>(
      `SELECT status, count(*) AS n FROM jobs WHERE id = ANY($1::uuid[]) GROUP BY status`,
      [ids],
    );
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  async function completedCount(ids: string[]): Promise<number> {
    return (await statusCounts(ids))['completed'] ?? 0;
  }

  /** Waits until every accepted job is `completed`; none may stay queued or running. */
  async function expectAllCompleted(ids: string[], what: string): Promise<void> {
    await waitFor(async () => (await completedCount(ids)) === ids.length, {
      timeoutMs: 60000,
      intervalMs: 250,
      what: `${ids.length} ${what} jobs completed`,
    }).catch(async (error: Error) => {
      throw new Error(`${error.message}; statuses: ${JSON.stringify(await statusCounts(ids))}`);
    });
  }

  /** Dispatch messages dead-lettered into `<prefix>.dlq` (a claim that failed must never go there). */
  async function deadLettered(): Promise<number> {
    const connection = await connect(TEST_SERVICES.amqp);
    try {
      const channel = await connection.createChannel();
      const { messageCount } = await channel.checkQueue(`${stack.id}.dlq`);
      return messageCount;
    } finally {
      await connection.close();
    }
  }

  it('PostgreSQL stopped for 6 s under load: REST answers 503 with Retry-After, every job completes once', async () => {
    const before = await submitBatches(200);
    await waitFor(async () => (await completedCount(before)) >= 20, { what: 'the first jobs completed' });
    const during: string[] = [];
    const answers: number[] = [];
    let retryAfter: string | null = null;
    let health: { status: string; checks: Record<string, { status: string }> } | undefined;
    try {
      await pgctl('stop');
      const stopped = Date.now();
      const stopSubmitting = submitWhile(during, answers);
      // A REST route that needs the database answers 503 service_unavailable with Retry-After.
      const refused = await waitFor(
        async () => {
          const response = await api.get<{ error: { code: string } }>(`/jobs/${before[0]}`);
          return response.status === 503 ? response : undefined;
        },
        { timeoutMs: 5000, intervalMs: 100, what: 'a 503 while PostgreSQL is down' },
      );
      expect(refused.body.error.code).toBe('service_unavailable');
      retryAfter = refused.headers.get('retry-after');
      const healthResponse = await api.get<typeof health>('/health');
      health = healthResponse.body;
      // The outage itself is deliberate: 6 s from the stop.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 6000 - (Date.now() - stopped))));
      await stopSubmitting();
    } finally {
      await pgctl('start');
      await waitFor(
        async () => {
          await db.query('SELECT 1');
          return true;
        },
        { timeoutMs: 30000, intervalMs: 200, what: 'PostgreSQL answering again' },
      );
    }
    expect(Number(retryAfter)).toBeGreaterThan(0);
    expect(health?.checks['database']?.status).toBe('down');
    expect(health?.status).toBe('unhealthy');
    // While it was down, no submission was answered with a 500.
    expect(answers.filter((s) => s >= 500 && s !== 503)).toEqual([]);
    expect(answers).toContain(503);
    const after = await submitBatches(20);
    const accepted = [...before, ...during, ...after];
    await expectAllCompleted(accepted, 'PostgreSQL-outage');
    expect(await expectNoOverlappingAttempts(db, accepted)).toBeGreaterThan(0);
    expect(await deadLettered()).toBe(0);
  });

  it('Redis stopped for 5 s: jobs submitted before and during it all complete', async () => {
    const before = await submitBatches(100);
    const during: string[] = [];
    const answers: number[] = [];
    let stopSubmitting: (() => Promise<void>) | undefined;
    try {
      await run('redis-cli', ['shutdown', 'nosave']).catch(() => undefined); // the reply is a closed socket
      stopSubmitting = submitWhile(during, answers);
      await new Promise((resolve) => setTimeout(resolve, 5000));
    } finally {
      await run('redis-server', [
        '--daemonize',
        'yes',
        '--bind',
        '127.0.0.1',
        '-::1',
        '--port',
        '6379',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        '/var/lib/redis',
        '--logfile',
        '/var/log/redis/ci.log',
      ]);
      await waitFor(async () => (await run('redis-cli', ['ping'])).stdout.trim() === 'PONG', {
        timeoutMs: 30000,
        intervalMs: 200,
        what: 'Redis answering again',
      });
    }
    await stopSubmitting?.();
    expect(answers.filter((s) => s >= 500 && s !== 503)).toEqual([]);
    expect(during.length).toBeGreaterThan(0);
    const accepted = [...before, ...during];
    await expectAllCompleted(accepted, 'Redis-outage');
    expect(await expectNoOverlappingAttempts(db, accepted)).toBeGreaterThan(0);
    expect(await deadLettered()).toBe(0);
  });

  it('RabbitMQ stopped (stop_app) for 8 s: jobs submitted before and during it all complete', async () => {
    const before = await submitBatches(100);
    await waitFor(async () => (await completedCount(before)) >= 10, { what: 'the first jobs completed' });
    const during: string[] = [];
    const answers: number[] = [];
    let stopSubmitting: (() => Promise<void>) | undefined;
    try {
      await run('rabbitmqctl', ['-q', 'stop_app']);
      stopSubmitting = submitWhile(during, answers);
      await new Promise((resolve) => setTimeout(resolve, 8000));
    } finally {
      await run('rabbitmqctl', ['-q', 'start_app']);
      await run('rabbitmqctl', ['-q', 'await_startup']);
    }
    await stopSubmitting?.();
    expect(answers.filter((s) => s >= 500 && s !== 503)).toEqual([]);
    const accepted = [...before, ...during];
    await expectAllCompleted(accepted, 'RabbitMQ-outage');
    expect(await expectNoOverlappingAttempts(db, accepted)).toBeGreaterThan(0);
    expect(await deadLettered()).toBe(0);
  });

  it('a job handed back on SIGTERM shows `queued` in live state (Redis) and history, not `running`', async () => {
    const redis = new Redis(TEST_SERVICES.redis, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    // Only the leaving worker runs: the others stop first, so nothing takes the job back at once.
    for (const worker of workers) await worker.stop();
    workers = [];
    try {
      const leaving = await stack.spawn('worker', { SHUTDOWN_GRACE_MS: '300' });
      const id = await api.submit({ type: 'synthetic', payload: { durationMs: 20000, steps: 20 } });
      const liveKey = `${stack.redisPrefix}job:${id}:live`;
      await waitFor(async () => (await redis.hget(liveKey, 'status')) === 'running', {
        what: 'the job running in live state',
      });
      expect(await leaving.stop('SIGTERM')).toBe(0);
      expect((await api.job(id)).status).toBe('queued');
      // The hand-back's own event reaches the tracker: live state and history say `queued`.
      await waitFor(async () => (await redis.hget(liveKey, 'status')) === 'queued', {
        what: 'live state showing the job queued again',
      });
      const events = (await redis.zrange(`${stack.redisPrefix}job:${id}:events`, 0, -1)).map(
        (member) => (JSON.parse(member) as { event: string }).event,
      );
      expect(events.slice(events.indexOf('started'))).toContain('queued');
      await waitFor(
        async () =>
          (
            await db.query(`SELECT 1 FROM job_events WHERE job_id = $1 AND event = 'queued' AND seq > 1`, [
              id,
            ])
          ).rowCount === 1,
        { what: 'the hand-back in the job history' },
      );
      await api.delete(`/jobs/${id}`);
    } finally {
      redis.disconnect();
    }
  });
});
