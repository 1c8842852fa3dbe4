import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { TestApi, TestStack, waitFor, type ServiceProcess } from '@switchyard/testing';
import { at, counterValue, jobsDb } from './support/dispatch';

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
  let alphaKey: string;

  beforeAll(async () => {
    // Webhook endpoints on 127.0.0.1: a schedule's job may name a webhookUrl of their origin.
    stack = await TestStack.create({
      TENANT_MAX_SCHEDULES: String(MAX_SCHEDULES),
      WEBHOOK_ALLOW_PRIVATE: 'true',
    });
    await stack.start();
    db = jobsDb(stack);
    const [a, b] = await Promise.all([stack.createApiKey('alpha'), stack.createApiKey('beta')]);
    alphaKey = a.key;
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
    const lastBeforeResume = Math.max(...afterPause.map((r) => r.scheduled_for.getTime()));
    expect(afterPause.filter((r) => r.scheduled_for.getTime() > pausedAt + 500)).toEqual([]);
    const resumedAt = Date.now();
    const resumed = await alpha.post<Schedule>(`/schedules/${schedule.id}/resume`, {});
    const answeredAt = Date.now();
    expect(resumed.body.paused).toBe(false);
    // Resume answers the first tick strictly after its now: never one already due, so (overlap
    // allow) that very tick is the first run after the pause, neither skipped nor an earlier one.
    const nextRunAt = new Date(resumed.body.nextRunAt ?? '').getTime();
    expect(nextRunAt % 1000).toBe(0);
    expect(nextRunAt).toBeGreaterThan(resumedAt);
    expect(nextRunAt).toBeLessThanOrEqual(answeredAt + 1000);
    // runsOf is in tick order: the first run after the pause's last one.
    const firstAfter = await waitFor(
      async () => (await runsOf(schedule.id)).find((r) => r.scheduled_for.getTime() > lastBeforeResume),
      { timeoutMs: 10000, what: 'a run after the resume' },
    );
    expect(firstAfter.scheduled_for.toISOString()).toBe(resumed.body.nextRunAt);
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
    const gateway = stack.service('gateway').url;
    const skippedBefore = await counterValue(gateway, 'switchyard_schedule_runs_total', {
      outcome: 'skipped_overlap',
    });
    const createdAt = Date.now();
    const schedules = await Promise.all(
      policies.map((overlap) => create({ name: `overlap-${overlap}`, everyMs: 1000, overlap, job: slow })),
    );
    await new Promise((resolve) => setTimeout(resolve, 9000));
    // The pause answers each schedule's nextRunAt: the ticks evaluated are the ones from its first
    // nextRunAt up to that one.
    const paused = await Promise.all(schedules.map((s) => pause(s.id)));
    const pausedAt = Date.now();
    const evaluated = schedules.map((s, i) => (at(paused[i]?.body.nextRunAt) - at(s.nextRunAt)) / 1000);
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
    // buffer_one: back to back (the held tick is created when the run before it finishes), never
    // overlapping: a run is created only after the one before it ran its 2.5 s, so at most one per
    // 2.5 s of the window from the create to the pause, plus the first.
    expect(buffer.length).toBeGreaterThanOrEqual(3);
    expect(buffer.length).toBeLessThanOrEqual(Math.floor((pausedAt - createdAt) / 2500) + 1);
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
    // cancel_previous: each tick cancels the run before it, which was running by then.
    expect(cancel.length).toBeGreaterThanOrEqual(7);
    const cancelled = cancel.filter((r) => r.status === 'cancelled');
    expect(cancelled.length).toBeGreaterThanOrEqual(cancel.length - 2);
    expect(cancelled.filter((r) => r.started_at === null)).toEqual([]);
    expect(overlaps(cancel.filter((r) => r.status === 'completed'))).toBe(false);

    // skipped_overlap has no schedule label: each schedule's share is its evaluated ticks without a
    // run. skip and cancel_previous skip exactly those; allow none; buffer_one skips those but
    // the tick it held at the pause (dropped, not counted).
    const withoutRun = [skip, buffer, allow, cancel].map((runs, i) => (evaluated[i] ?? 0) - runs.length);
    expect(withoutRun[2]).toBe(0);
    const [skipSkipped, bufferWithoutRun, , cancelSkipped] = withoutRun as [number, number, number, number];
    const skipped = await waitFor(
      async () => {
        const total = await counterValue(gateway, 'switchyard_schedule_runs_total', {
          outcome: 'skipped_overlap',
        });
        const bufferSkipped = total - skippedBefore - skipSkipped - cancelSkipped;
        return bufferSkipped === bufferWithoutRun || bufferSkipped === bufferWithoutRun - 1
          ? bufferSkipped
          : undefined;
      },
      { timeoutMs: 5000, what: `buffer_one skipped ${bufferWithoutRun} (or one fewer, its held tick)` },
    );
    // Runs of 2.5 s on 1 s ticks: of each run's ticks, one is held and the others are dropped.
    const bufferRunsMax = Math.floor((pausedAt - createdAt) / 2500) + 1;
    expect(skipped).toBeGreaterThanOrEqual((evaluated[1] ?? 0) - bufferRunsMax - 1);
    expect(skipped).toBeGreaterThanOrEqual(2);
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

  it("carries the job's concurrencyKey and webhookUrl into every run; a webhookUrl must have the origin of an enabled endpoint", async () => {
    const hook = 'http://127.0.0.1:9/hooks/nightly';
    const job = { ...quick, concurrencyKey: 'schedule-key', webhookUrl: hook };
    type Refusal = { error: { code: string; details: { field: string; message: string }[] } };
    // Checked as POST /jobs checks it: no enabled endpoint of that origin yet.
    const refused = await alpha.post<Refusal>('/schedules', { name: 'keyed', everyMs: 1000, job });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('validation_failed');
    expect(refused.body.error.details.map((d) => d.field)).toEqual(['job.webhookUrl']);
    const asJob = await alpha.post<Refusal>('/jobs', job);
    expect([asJob.status, asJob.body.error.details[0]?.message]).toEqual([
      400,
      refused.body.error.details[0]?.message,
    ]);
    // An endpoint of that origin (it takes only failures: these runs complete, nothing is sent).
    const endpoint = await alpha.post('/webhooks', {
      url: 'http://127.0.0.1:9/hooks',
      eventTypes: ['switchyard.job.failed'],
    });
    expect(endpoint.status).toBe(201);
    const schedule = await create({ name: 'keyed', everyMs: 1000, overlap: 'allow', job });
    expect((schedule as Schedule & { job: unknown }).job).toEqual(job);
    const runs = await waitFor(
      async () => ((await runsOf(schedule.id)).length >= 2 ? runsOf(schedule.id) : undefined),
      {
        timeoutMs: 10000,
        what: 'two runs',
      },
    );
    await pause(schedule.id);
    const { rows } = await db.query<{ concurrency_key: string | null; webhook_url: string | null }>(
      'SELECT concurrency_key, webhook_url FROM jobs WHERE id = ANY($1::uuid[])',
      [runs.map((r) => r.id)],
    );
    expect(rows).toEqual(runs.map(() => ({ concurrency_key: 'schedule-key', webhook_url: hook })));
    const view = await alpha.job(runs[0].id);
    expect(view).toMatchObject({ concurrencyKey: 'schedule-key', webhookUrl: hook, scheduleId: schedule.id });
    // A change to another origin is refused the same way; the schedule keeps its job.
    const patched = await alpha.request<Refusal>('PATCH', `/schedules/${schedule.id}`, {
      job: { ...job, webhookUrl: 'http://127.0.0.2:9/hooks' },
    });
    expect([patched.status, patched.body.error.details.map((d) => d.field)]).toEqual([
      400,
      ['job.webhookUrl'],
    ]);
    expect((await alpha.get<{ job: unknown }>(`/schedules/${schedule.id}`)).body.job).toEqual(job);
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
        '--concurrency-key',
        'nightly-key',
        '--json',
      ],
      env,
    );
    expect(created.code).toBe(0);
    const schedule = JSON.parse(created.output) as Schedule & { overlap: string };
    expect(schedule).toMatchObject({
      name: 'nightly',
      overlap: 'buffer_one',
      paused: false,
      job: { type: 'synthetic', payload: { durationMs: 0 }, concurrencyKey: 'nightly-key' },
    });
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
    expect(shown.output).toContain('key       nightly-key');
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

    // schedule_lag_seconds (tick → run created, read after the commit): one observation per run the
    // restarted gateway's evaluator created, the caught-up ones 1–3 s late.
    // The restarted gateway listens on a new port.
    const restarted = stack.api(alphaKey);
    await Promise.all([pause(window.id, restarted), pause(none.id, restarted)]);
    const lag = (series: 'count' | 'sum' | 'bucket', labels: Record<string, string> = {}) =>
      counterValue(gateway.url, `switchyard_schedule_lag_seconds_${series}`, labels);
    // Every run since the restart (the evaluator's: no trigger or backfill since), until the
    // histogram's count has caught up with them.
    const sinceRestart = await waitFor(
      async () => {
        const { rows } = await db.query<{ lag: number }>(
          `SELECT extract(epoch FROM created_at - scheduled_for)::float8 AS lag FROM jobs
           WHERE schedule_id IS NOT NULL AND created_at >= $1`,
          [new Date(restartedAt)],
        );
        return (await lag('count')) === rows.length ? rows : undefined;
      },
      { timeoutMs: 5000, what: 'schedule_lag_seconds_count = the runs created since the restart' },
    );
    const observed = sinceRestart.length;
    expect(observed).toBeGreaterThanOrEqual(caughtUp.length + 1);
    const caughtUpLags = caughtUp
      .map((r) => (r.created_at.getTime() - r.scheduled_for.getTime()) / 1000)
      .sort((a, b) => a - b);
    // Three ticks one second apart, all due at the first evaluation: ≥ 0, ≥ 1 and ≥ 2 s late.
    caughtUpLags.forEach((seconds, i) => expect(seconds).toBeGreaterThanOrEqual(i));
    // The histogram holds the lags the rows show: read after the commit, an observation is never
    // below its row's (created_at is set before), and above it by no more than the commit takes
    // (0.5 s allowed, for a loaded machine). So the caught-up runs are in it 1–3 s late.
    const COMMIT_S = 0.5;
    const dbLags = sinceRestart.map((r) => Number(r.lag));
    const dbOver = (seconds: number) => dbLags.filter((l) => l > seconds).length;
    const buckets = [];
    for (const le of ['1', '2.5', '5']) {
      const over = observed - (await lag('bucket', { le }));
      const rows = { atLeast: dbOver(Number(le)), atMost: dbOver(Number(le) - COMMIT_S) };
      buckets.push({ le, over, ...rows, ok: over >= rows.atLeast && over <= rows.atMost });
    }
    expect(buckets.filter((b) => !b.ok)).toEqual([]);
    expect(observed - (await lag('bucket', { le: '1' }))).toBeGreaterThanOrEqual(2);
    const dbSum = dbLags.reduce((sum, l) => sum + l, 0);
    const sum = await lag('sum');
    expect(sum).toBeGreaterThanOrEqual(dbSum - 0.001);
    expect(sum).toBeLessThanOrEqual(dbSum + COMMIT_S * observed);
  });
});
