import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { TestApi, TestStack, waitFor, type ServiceProcess } from '@switchyard/testing';
import { counterValue, jobsDb } from './support/dispatch';

jest.setTimeout(180000);

interface Schedule {
  id: string;
  name: string;
  nextRunAt: string | null;
  paused: boolean;
  note: string | null;
}
interface Run {
  id: string;
  status: string;
  scheduled_for: Date;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

const quick = { type: 'synthetic', payload: { durationMs: 0 } };
/** TENANT_MAX_SCHEDULES in this suite: above what any other test creates for one tenant. */
const MAX_SCHEDULES = 25;

/** Runs the built `switchyard` command. */
function switchyard(args: string[], env: Record<string, string>): Promise<{ code: number; output: string }> {
  const cli = join(__dirname, '..', 'dist/apps/cli/src/main.js');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cli, ...args],
      { env: { PATH: process.env['PATH'] ?? '', ...env } },
      (error, stdout, stderr) =>
        resolve({ code: typeof error?.code === 'number' ? error.code : 0, output: stdout + stderr }),
    );
  });
}

/**
 * Schedules end to end: runs are ordinary jobs made by every gateway's evaluator, exactly one per
 * tick, with the overlap policies, pause and resume, catch-up after downtime and tenant isolation.
 */
describe('schedules: recurring jobs, once per tick with any number of gateways', () => {
  let stack: TestStack;
  let db: Pool;
  let alpha: TestApi;
  let beta: TestApi;

  beforeAll(async () => {
    stack = await TestStack.create({ TENANT_MAX_SCHEDULES: String(MAX_SCHEDULES) });
    await stack.start();
    db = jobsDb(stack);
    const [a, b] = await Promise.all([stack.createApiKey('alpha'), stack.createApiKey('beta')]);
    alpha = new TestApi(stack.service('gateway').url, {
      authorization: `Bearer ${a.key}`,
    });
    beta = new TestApi(stack.service('gateway').url, {
      authorization: `Bearer ${b.key}`,
    });
  });

  afterAll(async () => {
    await db?.end();
    await stack?.destroy();
  });

  async function create(body: Record<string, unknown>, api = alpha): Promise<Schedule> {
    const response = await api.post<Schedule>('/schedules', body);
    if (response.status !== 201) {
      throw new Error(`create answered ${response.status}: ${JSON.stringify(response.body)}`);
    }
    return response.body;
  }

  async function runsOf(id: string): Promise<Run[]> {
    const { rows } = await db.query<Run>(
      `SELECT id, status, scheduled_for, created_at, started_at, finished_at FROM jobs
       WHERE schedule_id = $1 ORDER BY scheduled_for`,
      [id],
    );
    return rows;
  }

  const pause = (id: string, api = alpha) => api.post<Schedule>(`/schedules/${id}/pause`, { note: 'test' });

  it('validates, isolates tenants, triggers, lists runs and pauses and resumes', async () => {
    const bad = await alpha.post<{ error: { code: string; details: { field: string }[] } }>('/schedules', {
      name: 'bad',
      cron: '61 * * * *',
      timezone: 'Mars/Olympus',
      job: quick,
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('validation_failed');
    expect(bad.body.error.details.map((d) => d.field)).toContain('timezone');
    const badJob = await alpha.post<{ error: { code: string; details: { field: string }[] } }>('/schedules', {
      name: 'bad-job',
      everyMs: 60000,
      job: { type: 'synthetic', payload: { durationMs: -1 } },
    });
    expect(badJob.status).toBe(400);
    expect(badJob.body.error.details[0]?.field).toMatch(/^job\.payload/);
    const both = await alpha.post('/schedules', { name: 'both', cron: '@hourly', everyMs: 1000, job: quick });
    expect(both.status).toBe(400);

    const hourly = await create({ name: 'hourly', cron: '@hourly', timezone: 'Europe/Berlin', job: quick });
    expect(new Date(hourly.nextRunAt ?? '').getUTCMinutes()).toBe(0);
    const dup = await alpha.post('/schedules', { name: 'hourly', everyMs: 5000, job: quick });
    expect(dup.status).toBe(400);
    // Another tenant may use the name, and cannot see, trigger, change or delete alpha's schedule.
    await create({ name: 'hourly', cron: '@hourly', job: quick }, beta);
    for (const [method, path] of [
      ['GET', `/schedules/${hourly.id}`],
      ['GET', `/schedules/${hourly.id}/runs`],
      ['POST', `/schedules/${hourly.id}/trigger`],
      ['POST', `/schedules/${hourly.id}/pause`],
      ['PATCH', `/schedules/${hourly.id}`],
      ['DELETE', `/schedules/${hourly.id}`],
    ] as const) {
      const answer = await beta.request<{ error: { code: string } }>(
        method,
        path,
        method === 'PATCH' ? {} : undefined,
      );
      expect([method, path, answer.status, answer.body.error.code]).toEqual([method, path, 404, 'not_found']);
    }
    const listed = await beta.get<{ items: Schedule[] }>('/schedules');
    expect(listed.body.items.map((s) => s.id)).not.toContain(hourly.id);

    // Trigger: one run now, an ordinary job with scheduleId and scheduledFor.
    const triggered = await alpha.post<{ outcome: string; jobId: string; scheduledFor: string }>(
      `/schedules/${hourly.id}/trigger`,
    );
    expect(triggered.status).toBe(200);
    expect(triggered.body.outcome).toBe('created');
    const job = await alpha.waitForStatus(triggered.body.jobId, 'completed');
    expect(job).toMatchObject({ scheduleId: hourly.id, scheduledFor: triggered.body.scheduledFor });
    const runs = await alpha.get<{ items: { id: string; scheduledFor: string }[] }>(
      `/schedules/${hourly.id}/runs`,
    );
    expect(runs.body.items.map((r) => r.id)).toEqual([triggered.body.jobId]);

    const paused = await pause(hourly.id);
    expect(paused.body).toMatchObject({ paused: true, note: 'test' });
    const patched = await alpha.request<Schedule>('PATCH', `/schedules/${hourly.id}`, {
      cron: '*/5 * * * *',
    });
    expect(patched.status).toBe(200);
    const deleted = await alpha.delete(`/schedules/${hourly.id}`);
    expect(deleted.status).toBe(204);
    expect((await alpha.get(`/schedules/${hourly.id}`)).status).toBe(404);
    // Its run stays, as a job.
    expect((await alpha.get(`/jobs/${triggered.body.jobId}`)).status).toBe(200);
  });

  it('refuses a tenant its schedule past TENANT_MAX_SCHEDULES with 429 tenant_quota_exceeded, and only that tenant', async () => {
    const capped = await stack.createApiKey('capped');
    const api = new TestApi(stack.service('gateway').url, { authorization: `Bearer ${capped.key}` });
    const paused = (i: number) => ({ name: `cap-${i}`, cron: '@daily', job: quick, paused: true });
    for (let i = 0; i < MAX_SCHEDULES; i++) await create(paused(i), api);
    const refused = await api.post<{ error: { code: string; message: string } }>(
      '/schedules',
      paused(MAX_SCHEDULES),
    );
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('tenant_quota_exceeded');
    expect(refused.body.error.message).toContain(String(MAX_SCHEDULES));
    // Another tenant still creates; a deleted schedule makes room again.
    await create({ ...paused(MAX_SCHEDULES), name: 'beta-after-cap' }, beta);
    const { body: page } = await api.get<{ items: Schedule[] }>('/schedules?limit=1');
    expect((await api.delete(`/schedules/${page.items[0].id}`)).status).toBe(204);
    await create(paused(MAX_SCHEDULES), api);
  });

  it('backfills 24 h of an hourly schedule with 24 runs once; a second identical backfill creates none', async () => {
    const schedule = await create({
      name: 'backfilled',
      cron: '0 * * * *',
      timezone: 'Europe/Berlin',
      job: quick,
    });
    const range = { from: '2026-05-01T00:00:00.000Z', to: '2026-05-01T23:59:59.000Z' };
    const first = await alpha.post<{ ticks: number; created: number; existing: number }>(
      `/schedules/${schedule.id}/backfill`,
      range,
    );
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ ticks: 24, created: 24, existing: 0 });
    const again = await alpha.post(`/schedules/${schedule.id}/backfill`, range);
    expect(again.body).toEqual({ ticks: 24, created: 0, existing: 24 });
    const runs = await runsOf(schedule.id);
    expect(runs).toHaveLength(24);
    expect(new Set(runs.map((r) => r.scheduled_for.getUTCHours())).size).toBe(24);
    const page = await alpha.get<{ items: { scheduledFor: string }[]; nextCursor: string | null }>(
      `/schedules/${schedule.id}/runs?limit=10`,
    );
    expect(page.body.items.map((r) => r.scheduledFor)).toEqual(
      [...runs]
        .reverse()
        .slice(0, 10)
        .map((r) => r.scheduled_for.toISOString()),
    );
    expect(page.body.nextCursor).not.toBeNull();
    const tooMany = await alpha.post<{ error: { code: string } }>(`/schedules/${schedule.id}/backfill`, {
      from: '2026-01-01T00:00:00.000Z',
      to: '2026-12-31T00:00:00.000Z',
    });
    expect([tooMany.status, tooMany.body.error.code]).toEqual([400, 'validation_failed']);
    expect(await runsOf(schedule.id)).toHaveLength(24);
  });

  it('pause stops new runs while the running one finishes; resume continues from the next tick', async () => {
    const schedule = await create({
      name: 'pausing',
      everyMs: 1000,
      overlap: 'allow',
      job: { type: 'synthetic', payload: { durationMs: 1500 } },
    });
    const running = await waitFor(
      async () => (await runsOf(schedule.id)).find((r) => r.status === 'running'),
      { timeoutMs: 15000, what: 'a running run' },
    );
    await pause(schedule.id);
    const pausedAt = Date.now();
    const countAtPause = (await runsOf(schedule.id)).length;
    await waitFor(async () => (await alpha.job(running.id)).status === 'completed', { timeoutMs: 15000 });
    // Give the (paused) schedule three ticks: nothing new (a tick being created at the pause may land).
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, pausedAt + 3000 - Date.now())));
    const afterPause = await runsOf(schedule.id);
    expect(afterPause.length).toBeLessThanOrEqual(countAtPause + 1);
    expect(afterPause.filter((r) => r.scheduled_for.getTime() > pausedAt + 500)).toEqual([]);
    const resumedAt = Date.now();
    const resumed = await alpha.post<Schedule>(`/schedules/${schedule.id}/resume`, {});
    expect(resumed.body.paused).toBe(false);
    expect(new Date(resumed.body.nextRunAt ?? '').getTime()).toBeGreaterThan(resumedAt - 1000);
    await waitFor(
      async () => (await runsOf(schedule.id)).some((r) => r.scheduled_for.getTime() > resumedAt),
      { timeoutMs: 10000, what: 'a run after the resume' },
    );
    // The ticks of the pause were not run afterwards.
    const gap = (await runsOf(schedule.id)).filter(
      (r) => r.scheduled_for.getTime() > pausedAt + 500 && r.scheduled_for.getTime() < resumedAt - 500,
    );
    expect(gap).toEqual([]);
    await pause(schedule.id);
  });

  it('with jobs of 2.5 s on a 1 s schedule: skip never overlaps, buffer_one runs back to back, allow overlaps, cancel_previous cancels', async () => {
    const slow = { type: 'synthetic', payload: { durationMs: 2500 } };
    const policies = ['skip', 'buffer_one', 'allow', 'cancel_previous'] as const;
    const schedules = await Promise.all(
      policies.map((overlap) => create({ name: `overlap-${overlap}`, everyMs: 1000, overlap, job: slow })),
    );
    await new Promise((resolve) => setTimeout(resolve, 9000));
    await Promise.all(schedules.map((s) => pause(s.id)));
    const [skip, buffer, allow, cancel] = await Promise.all(
      schedules.map(async (s) => {
        // Every run ends (cancel_previous's last one runs to its end).
        await waitFor(
          async () => (await runsOf(s.id)).every((r) => ['completed', 'cancelled'].includes(r.status)),
          { timeoutMs: 20000, what: 'runs finished' },
        );
        return runsOf(s.id);
      }),
    );
    const overlaps = (runs: Run[]) =>
      runs.some((a, i) =>
        runs.some(
          (b, j) =>
            i < j &&
            a.started_at !== null &&
            b.started_at !== null &&
            a.started_at < (b.finished_at ?? new Date()) &&
            b.started_at < (a.finished_at ?? new Date()),
        ),
      );
    // skip: runs of 2.5 s on a 1 s tick never overlap; about one run every 3 s.
    expect(skip.length).toBeGreaterThanOrEqual(2);
    expect(overlaps(skip)).toBe(false);
    expect(skip.every((r) => r.status === 'completed')).toBe(true);
    // buffer_one: back to back (the held tick is created when the run before it finishes), never overlapping.
    expect(buffer.length).toBeGreaterThanOrEqual(3);
    expect(overlaps(buffer)).toBe(false);
    for (let i = 1; i < buffer.length; i++) {
      const previous = buffer[i - 1];
      const run = buffer[i];
      if (!previous?.finished_at || !run?.started_at) continue;
      expect(run.started_at.getTime() - previous.finished_at.getTime()).toBeLessThan(1000);
    }
    // allow: every tick runs, and they overlap.
    expect(allow.length).toBeGreaterThanOrEqual(7);
    expect(overlaps(allow)).toBe(true);
    // cancel_previous: each tick cancels the run before it.
    expect(cancel.length).toBeGreaterThanOrEqual(7);
    expect(cancel.filter((r) => r.status === 'cancelled').length).toBeGreaterThanOrEqual(cancel.length - 2);
    expect(overlaps(cancel.filter((r) => r.status === 'completed'))).toBe(false);
    const created = await counterValue(stack.service('gateway').url, 'switchyard_schedule_runs_total', {
      outcome: 'skipped_overlap',
    });
    expect(created).toBeGreaterThan(0);
  });

  it('an every-second schedule with two gateways for 10 s creates 10 ± 1 runs, one per tick', async () => {
    const second: ServiceProcess = await stack.spawn('gateway');
    const schedule = await create({ name: 'every-second', everyMs: 1000, overlap: 'allow', job: quick });
    const from = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 10000));
    const to = Date.now();
    await pause(schedule.id);
    const runs = (await runsOf(schedule.id)).filter(
      (r) => r.scheduled_for.getTime() > from && r.scheduled_for.getTime() <= to,
    );
    expect(runs.length).toBeGreaterThanOrEqual(9);
    expect(runs.length).toBeLessThanOrEqual(11);
    const ticks = runs.map((r) => r.scheduled_for.getTime());
    expect(new Set(ticks).size).toBe(ticks.length);
    // Whole seconds, one apart: no tick lost between the first and the last.
    expect(ticks.every((t) => t % 1000 === 0)).toBe(true);
    expect(((ticks[ticks.length - 1] ?? 0) - (ticks[0] ?? 0)) / 1000 + 1).toBe(ticks.length);
    await second.stop('SIGTERM');
  });

  it('a second gateway keeps the ticks going while the first one is frozen', async () => {
    const second: ServiceProcess = await stack.spawn('gateway');
    const first = stack.service('gateway');
    const schedule = await create({
      name: 'every-second-frozen',
      everyMs: 1000,
      overlap: 'allow',
      job: quick,
    });
    const created = () => counterValue(second.url, 'switchyard_schedule_runs_total', { outcome: 'created' });
    const before = await created();
    // Which gateway takes a tick is a race; with the first one stopped (SIGSTOP) only the second can.
    process.kill(first.pid!, 'SIGSTOP');
    let during: number;
    try {
      during = await waitFor(
        async () => ((await created()) - before >= 3 ? (await created()) - before : undefined),
        {
          timeoutMs: 10000,
          intervalMs: 250,
          what: 'the second gateway to create runs on its own',
        },
      );
    } finally {
      process.kill(first.pid!, 'SIGCONT');
    }
    expect(during).toBeGreaterThanOrEqual(3);
    await pause(schedule.id);
    const ticks = (await runsOf(schedule.id)).map((r) => r.scheduled_for.getTime());
    expect(new Set(ticks).size).toBe(ticks.length);
    await second.stop('SIGTERM');
  });

  it('the CLI creates, lists, shows, pauses, resumes, triggers, backfills and deletes schedules', async () => {
    const key = (await stack.createApiKey('gamma')).key;
    const env = { SWITCHYARD_URL: stack.service('gateway').url, SWITCHYARD_API_KEY: key, NO_COLOR: '1' };
    const created = await switchyard(
      [
        'schedules',
        'create',
        'nightly',
        'synthetic',
        '--cron',
        '30 2 * * *',
        '--timezone',
        'Europe/Berlin',
        '--payload',
        '{"durationMs":0}',
        '--overlap',
        'buffer_one',
        '--json',
      ],
      env,
    );
    expect(created.code).toBe(0);
    const schedule = JSON.parse(created.output) as Schedule & { overlap: string };
    expect(schedule).toMatchObject({ name: 'nightly', overlap: 'buffer_one', paused: false });
    const list = await switchyard(['schedules', 'list'], env);
    expect(list.output).toMatch(/nightly\s.*30 2 \* \* \* \(Europe\/Berlin\)\s.*synthetic\s.*buffer_one/);
    expect((await switchyard(['schedules', 'pause', schedule.id, '--note', 'maintenance'], env)).output).toBe(
      'paused nightly\n',
    );
    expect((await switchyard(['schedules', 'resume', schedule.id], env)).output).toMatch(
      /^resumed nightly, next run /,
    );
    const triggered = await switchyard(['schedules', 'trigger', schedule.id], env);
    expect(triggered.output).toMatch(/^created run [0-9a-f-]{36}\n$/);
    const backfill = await switchyard(
      [
        'schedules',
        'backfill',
        schedule.id,
        '--from',
        '2026-05-01T00:00:00Z',
        '--to',
        '2026-05-03T23:59:59Z',
      ],
      env,
    );
    expect(backfill.output).toBe('3 ticks: 3 runs created, 0 already had one\n');
    const shown = await switchyard(['schedules', 'get', schedule.id], env);
    expect(shown.output).toContain('note      maintenance');
    expect(shown.output).toMatch(/synthetic/);
    const other = await switchyard(['schedules', 'get', schedule.id], {
      ...env,
      SWITCHYARD_API_KEY: (await stack.createApiKey('delta')).key,
    });
    expect(other.code).toBe(1);
    expect(other.output).toContain('not_found');
    expect((await switchyard(['schedules', 'delete', schedule.id], env)).output).toBe(
      `deleted schedule ${schedule.id}\n`,
    );
    expect((await switchyard(['schedules', 'create', 'x', 'synthetic'], env)).code).toBe(2);
  });

  it('after every service stopped for 5 s, missed ticks within catchupWindowMs run once each; the rest are counted as missed', async () => {
    const window = await create({
      name: 'catchup-3s',
      everyMs: 1000,
      overlap: 'allow',
      catchupWindowMs: 3000,
      job: quick,
    });
    const none = await create({
      name: 'catchup-none',
      everyMs: 1000,
      overlap: 'allow',
      catchupWindowMs: 0,
      job: quick,
    });
    await waitFor(async () => (await runsOf(window.id)).length >= 2 && (await runsOf(none.id)).length >= 2, {
      timeoutMs: 10000,
      what: 'runs before the stop',
    });
    await Promise.all([...stack.services.values(), ...stack.extra].map((s) => s.stop('SIGTERM')));
    const lastBefore = async (id: string) =>
      Math.max(...(await runsOf(id)).map((r) => r.scheduled_for.getTime()));
    const [windowLast, noneLast] = await Promise.all([lastBefore(window.id), lastBefore(none.id)]);
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const restartedAt = Date.now();
    await stack.start();
    const gateway = stack.service('gateway');
    // The first evaluation after the restart: the runs created together, right after it.
    const firstAfter = async (id: string, last: number) => {
      const after = await waitFor(
        async () => {
          const runs = (await runsOf(id)).filter((r) => r.scheduled_for.getTime() > last);
          return runs.length ? runs : undefined;
        },
        { timeoutMs: 15000, what: 'runs after the restart' },
      );
      const firstCommit = Math.min(...after.map((r) => r.created_at.getTime()));
      return after.filter((r) => r.created_at.getTime() === firstCommit);
    };
    const caughtUp = await firstAfter(window.id, windowLast);
    expect(caughtUp.length).toBe(3);
    for (const run of caughtUp)
      expect(run.created_at.getTime() - run.scheduled_for.getTime()).toBeLessThanOrEqual(3100);
    // With a window of 0, no tick from before the restart runs.
    await firstAfter(none.id, noneLast);
    const noneGap = (await runsOf(none.id)).filter(
      (r) => r.scheduled_for.getTime() > noneLast && r.scheduled_for.getTime() < restartedAt,
    );
    expect(noneGap).toEqual([]);
    // Every tick between the last run before the stop and the first caught up is counted missed.
    const firstCaught = Math.min(...caughtUp.map((r) => r.scheduled_for.getTime()));
    const windowMissed = (firstCaught - windowLast) / 1000 - 1;
    expect(windowMissed).toBeGreaterThanOrEqual(2);
    const firstNone = Math.min(
      ...(await runsOf(none.id))
        .filter((r) => r.scheduled_for.getTime() > noneLast)
        .map((r) => r.scheduled_for.getTime()),
    );
    const noneMissed = (firstNone - noneLast) / 1000 - 1;
    expect(noneMissed).toBeGreaterThanOrEqual(5);
    await waitFor(
      async () =>
        (await counterValue(gateway.url, 'switchyard_schedule_runs_total', { outcome: 'missed' })) ===
        windowMissed + noneMissed,
      { timeoutMs: 5000, what: `missed = ${windowMissed} + ${noneMissed}` },
    );
  });
});
