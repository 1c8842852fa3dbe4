import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createTestDatabase, waitFor, type TestDatabase } from '@switchyard/testing';
import { createDataSource, runMigrations } from './data-source';
import { ScheduleNameTaken, ScheduleQuotaExceeded, ScheduleTickTaken } from './errors';
import { JobsRepository, type NewJob } from './jobs.repository';
import { newJob } from './jobs.testing';
import { SchedulesRepository, toScheduleView, type ScheduleFields } from './schedules.repository';

function fields(overrides: Partial<ScheduleFields> = {}): ScheduleFields {
  return {
    name: `s-${randomUUID()}`,
    cron: null,
    everyMs: 1000,
    timezone: 'UTC',
    job: { type: 'synthetic', payload: {} },
    overlap: 'skip',
    catchupWindowMs: 60000,
    jitterMs: 0,
    startAt: null,
    endAt: null,
    paused: false,
    note: null,
    nextRunAt: new Date(Date.now() - 1000),
    bufferedFor: null,
    lastRunAt: null,
    lastError: null,
    ...overrides,
  };
}

function run(scheduleId: string, tick: number, overrides: Partial<NewJob> = {}): NewJob {
  return newJob({ scheduleId, scheduledFor: new Date(tick).toISOString(), ...overrides });
}

describe('schedules against PostgreSQL', () => {
  let database: TestDatabase;
  let db: DataSource;
  let schedules: SchedulesRepository;
  let jobs: JobsRepository;

  beforeAll(async () => {
    database = await createTestDatabase(runMigrations);
    db = createDataSource(database.url, { poolSize: 6 });
    await db.initialize();
    schedules = new SchedulesRepository(db);
    jobs = new JobsRepository(db);
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  it('keeps names unique per tenant', async () => {
    const name = 'nightly';
    await schedules.create(randomUUID(), 'acme', fields({ name }));
    await schedules.create(randomUUID(), 'other', fields({ name }));
    await expect(schedules.create(randomUUID(), 'acme', fields({ name }))).rejects.toBeInstanceOf(
      ScheduleNameTaken,
    );
  });

  it('never lets concurrent creates pass the tenant cap', async () => {
    const tenant = `capped-${randomUUID()}`;
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, () => schedules.create(randomUUID(), tenant, fields(), 3)),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(3);
    for (const o of outcomes.filter((o) => o.status === 'rejected'))
      expect(o.reason).toBeInstanceOf(ScheduleQuotaExceeded);
    const [{ n }]: { n: number }[] = await db.query(
      `SELECT count(*)::int AS n FROM schedules WHERE tenant = $1`,
      [tenant],
    );
    expect(n).toBe(3);
    // Another tenant is not held back by this one's cap.
    await expect(schedules.create(randomUUID(), `other-${tenant}`, fields(), 3)).resolves.toBeDefined();
  });

  it('creates one run per (schedule, tick): a second insert of the tick is refused, and existingTicks sees it', async () => {
    const id = randomUUID();
    await schedules.create(id, 'acme', fields());
    const tick = Date.UTC(2026, 4, 1, 3);
    await schedules.withLocked(id, undefined, (_row, tx) => tx.insertRuns([run(id, tick)], []));
    await expect(
      schedules.withLocked(id, undefined, (_row, tx) => tx.insertRuns([run(id, tick)], [])),
    ).rejects.toBeInstanceOf(ScheduleTickTaken);
    const seen = await schedules.withLocked(id, undefined, (_row, tx) =>
      tx.existingTicks(id, [tick, tick + 3600000]),
    );
    expect([...(seen?.result ?? [])]).toEqual([tick]);
    const { rows } = await schedules.runs(id, { limit: 10 });
    expect(rows.map((r) => [r.schedule_id, r.scheduled_for?.getTime()])).toEqual([[id, tick]]);
  });

  it('two concurrent claims never get the same due schedule (SKIP LOCKED), and a committed one is no longer due', async () => {
    const id = randomUUID();
    await schedules.create(id, 'claims', fields({ nextRunAt: new Date(Date.now() - 500) }));
    const now = new Date();
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const seen: string[][] = [];
    const first = schedules.claim('due', now, 10, async (rows, tx) => {
      seen.push(rows.map((r) => r.id));
      await held;
      for (const row of rows) await tx.save(row.id, { nextRunAt: new Date(Date.now() + 60000) });
    });
    await waitFor(() => seen.length === 1, { timeoutMs: 5000 });
    const second = await schedules.claim('due', now, 10, (rows) => Promise.resolve(rows.map((r) => r.id)));
    release();
    await first;
    const third = await schedules.claim('due', now, 10, (rows) => Promise.resolve(rows.map((r) => r.id)));
    expect(seen[0]).toContain(id);
    expect(second).not.toContain(id);
    expect(third).not.toContain(id);
  });

  it('notifies changes, and a run entering a terminal state while its schedule holds a tick (only that), to the listeners', async () => {
    const changed: number[] = [];
    const finished: string[] = [];
    const stop = await schedules.listen(
      () => changed.push(1),
      (scheduleId) => finished.push(scheduleId),
    );
    try {
      const id = randomUUID();
      await schedules.create(id, 'notify', fields({ overlap: 'buffer_one' }));
      await waitFor(() => changed.length >= 1, { timeoutMs: 5000, what: 'changed' });
      const tick = Date.now();
      const created = await schedules.withLocked(id, undefined, (_row, tx) =>
        tx.insertRuns([run(id, tick), run(id, tick - 1000)], []),
      );
      const [jobId, other] = (created?.result.rows ?? []).map((r) => r.id);
      // Without a held tick, a finished run notifies nobody (nothing waits for it).
      await db.query(`UPDATE jobs SET status = 'completed' WHERE id = $1`, [other]);
      await schedules.withLocked(id, undefined, (_row, tx) =>
        tx.save(id, { bufferedFor: new Date(tick + 1000) }),
      );
      // Not terminal: no notification.
      await db.query(`UPDATE jobs SET status = 'running' WHERE id = $1`, [jobId]);
      await db.query(`UPDATE jobs SET status = 'completed' WHERE id = $1`, [jobId]);
      await waitFor(() => finished.length === 1, { timeoutMs: 5000, what: 'finished' });
      expect(finished).toEqual([id]);
      // A job of no schedule never notifies.
      const plain = run(id, tick + 1, { scheduleId: null, scheduledFor: null });
      await jobs.insertJobs([plain], []);
      await db.query(`UPDATE jobs SET status = 'cancelled' WHERE id = $1`, [plain.id]);
      // The active-run lookup follows the status.
      const active = await schedules.withLocked(id, undefined, (_row, tx) => tx.activeRuns([id]));
      expect(active?.result).toEqual([]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(finished).toEqual([id]);
    } finally {
      await stop();
    }
  });

  it('pages schedules of one tenant, newest first, and views them with their next tick', async () => {
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    for (const id of ids) await schedules.create(id, 'paging', fields());
    const first = await schedules.list({ tenant: 'paging', limit: 2 });
    expect(first.rows).toHaveLength(2);
    const second = await schedules.list({ tenant: 'paging', limit: 2, cursor: first.nextCursor ?? '' });
    expect([...first.rows, ...second.rows].map((r) => r.id).sort()).toEqual([...ids].sort());
    expect(second.nextCursor).toBeNull();
    const view = toScheduleView(first.rows[0] ?? (undefined as never));
    expect(view).toMatchObject({ tenant: 'paging', everyMs: 1000, overlap: 'skip', paused: false });
    expect(typeof view.nextRunAt).toBe('string');
    expect(await schedules.delete(ids[0] ?? '', 'someone-else')).toBe(false);
    expect(await schedules.delete(ids[0] ?? '', 'paging')).toBe(true);
  });
});
