import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { TestApi, TestStack, waitFor, type ServiceProcess, type TestJob } from '@switchyard/testing';

jest.setTimeout(240000);

const run = promisify(execFile);
const at = (iso: string | null | undefined) => (iso ? new Date(iso).getTime() : NaN);

describe('nothing accepted is lost or run twice: crashes, shutdowns, broker connection loss', () => {
  let stack: TestStack;
  let api: TestApi;
  let db: Client;
  const workerEnv = { LEASE_MS: '2000', SHUTDOWN_GRACE_MS: '1000' };

  beforeAll(async () => {
    stack = await TestStack.create({ SWEEP_INTERVAL_MS: '300', OUTBOX_MAX_DELAY_MS: '1000' });
    await stack.start(['gateway', 'progress-tracker']);
    api = new TestApi(stack.service('gateway').url);
    db = new Client({ connectionString: stack.db.url });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await stack?.destroy();
  });

  const statuses = async (ids: string[]) => {
    const { rows } = await db.query<{ status: string }>(
      `SELECT status FROM jobs WHERE id = ANY($1::uuid[])`,
      [ids],
    );
    return rows.map((r) => r.status);
  };

  it('re-runs the 50 jobs of a SIGKILLed worker once its leases expire, counting the attempt, never twice at once', async () => {
    const doomed = await stack.spawn('worker', { ...workerEnv, WORKER_CONCURRENCY: '50' });
    const ids = await Promise.all(
      Array.from({ length: 50 }, () =>
        api.submit({ type: 'synthetic', payload: { durationMs: 4000, steps: 4 } }),
      ),
    );
    await waitFor(async () => (await statuses(ids)).every((s) => s === 'running'), {
      what: '50 running jobs',
    });
    const killedAt = Date.now();
    expect(await doomed.stop('SIGKILL')).toBeNull();
    const rescuer = await stack.spawn('worker', { ...workerEnv, WORKER_CONCURRENCY: '50' });
    const jobs = await Promise.all(ids.map((id) => api.waitForStatus(id, 'completed', 60000)));
    for (const job of jobs) {
      expect(job.attempts).toBe(2);
      expect(job.result).toEqual({ ok: true, attempt: 2 });
      // The second attempt started only after the first one's worker was gone.
      expect(at(job.startedAt)).toBeGreaterThan(killedAt);
    }
    await rescuer.stop();
  });

  it('drains on SIGTERM: short jobs finish, long ones are handed back queued and completed elsewhere, exit code 0', async () => {
    const leaving = await stack.spawn('worker', { ...workerEnv, WORKER_CONCURRENCY: '8' });
    const short = await Promise.all(
      Array.from({ length: 3 }, () => api.submit({ type: 'synthetic', payload: { durationMs: 300 } })),
    );
    const long = await Promise.all(
      Array.from({ length: 3 }, () =>
        api.submit({ type: 'synthetic', payload: { durationMs: 8000, steps: 8 } }),
      ),
    );
    await waitFor(async () => (await statuses([...short, ...long])).every((s) => s === 'running'), {
      what: 'six running jobs',
    });
    const stopping = leaving.stop('SIGTERM');
    const handedBack = await Promise.all(long.map((id) => api.waitForStatus(id, 'queued', 10000)));
    expect(handedBack.every((j) => j.attempts === 0)).toBe(true);
    expect(await stopping).toBe(0);
    for (const id of short) expect((await api.job(id)).status).toBe('completed');
    const successor = await stack.spawn('worker', workerEnv);
    for (const id of long) expect((await api.waitForStatus(id, 'completed', 30000)).attempts).toBe(1);
    await successor.stop();
  });

  it('publishes a job committed by a gateway that died before publishing, once a gateway runs again', async () => {
    const worker = await stack.spawn('worker', workerEnv);
    const crashing = await stack.spawn('gateway', { FAULT_INJECT: 'crash_after_commit' });
    await expect(
      fetch(`${crashing.url}/api/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.adminKey}` },
        body: JSON.stringify({ type: 'synthetic', payload: {}, metadata: { crash: true } }),
      }),
    ).rejects.toThrow();
    const { rows } = await db.query<{ id: string; status: string }>(
      `SELECT id, status FROM jobs WHERE metadata->>'crash' = 'true'`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].status).toBe('queued');
    // The long-running gateway's relay (or a restarted one) publishes the committed message.
    await api.waitForStatus(rows[0].id, 'completed', 15000);
    await worker.stop();
  });

  it('reconnects every service after the broker closes all their connections under load; every accepted job completes', async () => {
    const workers: ServiceProcess[] = [
      await stack.spawn('worker', workerEnv),
      await stack.spawn('worker', workerEnv),
    ];
    const accepted: string[] = [];
    const submitting = (async () => {
      for (let i = 0; i < 150; i++) {
        const response = await api.post<TestJob>('/jobs', {
          type: 'synthetic',
          payload: { durationMs: 50 },
          dedupe: false,
        });
        if (response.status === 202) accepted.push(response.body.id);
      }
    })();
    await waitFor(() => accepted.length >= 40, { what: 'submissions under way' });
    const { stdout } = await run('rabbitmqctl', [
      '-q',
      'list_connections',
      'pid',
      'client_properties',
      '--no-table-headers',
    ]);
    const ours = stdout
      .split('\n')
      .filter((line) => line.includes(`${stack.id}/`))
      .map((line) => line.split(/\s+/)[0]);
    expect(ours.length).toBeGreaterThanOrEqual(4);
    await Promise.all(
      ours.map((pid) =>
        run('rabbitmqctl', ['-q', 'close_connection', pid, 'e2e: broker closes connections']),
      ),
    );
    await submitting;
    expect(accepted.length).toBeGreaterThan(100);
    await waitFor(async () => (await statuses(accepted)).every((s) => s === 'completed'), {
      timeoutMs: 60000,
      intervalMs: 200,
      what: 'every accepted job completed',
    });
    for (const w of workers) await w.stop();
  });
});
