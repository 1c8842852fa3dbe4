import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { createTestDatabase, waitFor, type TestDatabase } from '@switchyard/testing';
import { createDataSource, runMigrations } from './data-source';
import { JobQueriesRepository } from './job-queries.repository';
import { JobsRepository, type NewJob } from './jobs.repository';
import { QueueSettingsRepository } from './queue-settings.repository';
import { newJob } from './jobs.testing';

describe('queue settings and queue levels against PostgreSQL', () => {
  let database: TestDatabase;
  let db: DataSource;
  let settings: QueueSettingsRepository;
  let queries: JobQueriesRepository;
  let jobs: JobsRepository;

  beforeAll(async () => {
    database = await createTestDatabase(runMigrations);
    db = createDataSource(database.url, { poolSize: 4 });
    await db.initialize();
    settings = new QueueSettingsRepository(db);
    queries = new JobQueriesRepository(db);
    jobs = new JobsRepository(db);
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  it('pauses and resumes a queue idempotently, keeps the state in the table and notifies listeners', async () => {
    const listener = new Client({ connectionString: database.url });
    await listener.connect();
    const notes: { channel: string; payload: string | undefined }[] = [];
    listener.on('notification', (n) => notes.push({ channel: n.channel, payload: n.payload }));
    await listener.query('LISTEN switchyard_queue_settings');
    await listener.query('LISTEN switchyard_dispatch');
    try {
      expect(await settings.pausedQueues()).toEqual(new Set());
      expect(await settings.settings(['default'])).toEqual(
        new Map([['default', { queue: 'default', paused: false, pausedAt: null }]]),
      );

      const paused = await settings.setPaused('default', true);
      expect(paused).toMatchObject({ queue: 'default', paused: true });
      expect(Date.parse(paused.pausedAt ?? '')).toBeGreaterThan(Date.now() - 60000);
      // Pausing again changes nothing, not even when it was paused.
      expect(await settings.setPaused('default', true)).toEqual(paused);
      await settings.setPaused('analysis', true);
      expect(await settings.pausedQueues()).toEqual(new Set(['default', 'analysis']));
      // A fresh pool (a restarted gateway) reads the same state.
      const other = new QueueSettingsRepository(db);
      expect((await other.settings(['default'])).get('default')).toEqual(paused);

      await waitFor(() => notes.filter((n) => n.channel === 'switchyard_queue_settings').length >= 3, {
        timeoutMs: 5000,
      });
      expect(notes.filter((n) => n.channel === 'switchyard_dispatch')).toEqual([]);

      expect(await settings.setPaused('default', false)).toEqual({
        queue: 'default',
        paused: false,
        pausedAt: null,
      });
      expect(await settings.setPaused('default', false)).toMatchObject({ paused: false });
      expect(await settings.pausedQueues()).toEqual(new Set(['analysis']));
      // Resume wakes the dispatchers for the queue.
      await waitFor(() => notes.some((n) => n.channel === 'switchyard_dispatch'), { timeoutMs: 5000 });
      await waitFor(() => notes.filter((n) => n.channel === 'switchyard_queue_settings').length >= 5, {
        timeoutMs: 5000,
      });
      expect(notes.filter((n) => n.channel === 'switchyard_dispatch')[0]?.payload).toBe('default');
      expect(notes.filter((n) => n.channel === 'switchyard_queue_settings').map((n) => n.payload)).toEqual([
        'default',
        'default',
        'analysis',
        'default',
        'default',
      ]);
    } finally {
      await listener.end();
    }
  });

  it('counts backlog, released, scheduled and running jobs per queue and finds the oldest queued job', async () => {
    const queue = `levels-${randomUUID().slice(0, 8)}`;
    const other = `levels-other-${randomUUID().slice(0, 8)}`;
    // Every part of the backlog: plain, held by a concurrency key, held by a rate key.
    const backlog = Array.from({ length: 5 }, (_, i) =>
      newJob({
        queue,
        priority: i % 3,
        concurrencyKey: i === 1 ? `ck-${queue}` : null,
        rateKey: i === 2 ? `rk-${queue}` : null,
      }),
    );
    // By priority: backlog 0, 1, 2, 0, 1 and released 9, 9, 9.
    const QUEUED_BY_PRIORITY = [2, 2, 1, 0, 0, 0, 0, 0, 0, 3];
    const released = Array.from({ length: 3 }, () => newJob({ queue, priority: 9 }));
    const scheduled = Array.from({ length: 2 }, () => newJob({ queue }));
    const running = Array.from({ length: 4 }, () => newJob({ queue }));
    const elsewhere = newJob({ queue: other });
    await jobs.insertJobs([...backlog, ...released, ...scheduled, ...running, elsewhere], []);
    const ids = (rows: NewJob[]) => rows.map((r) => r.id);
    await db.query(`UPDATE jobs SET status = 'queued', dispatched_at = NULL WHERE id = ANY($1::uuid[])`, [
      [...ids(backlog), elsewhere.id],
    ]);
    await db.query(`UPDATE jobs SET status = 'queued', dispatched_at = now() WHERE id = ANY($1::uuid[])`, [
      ids(released),
    ]);
    await db.query(
      `UPDATE jobs SET status = 'scheduled', run_at = now() + interval '1 hour' WHERE id = ANY($1::uuid[])`,
      [ids(scheduled)],
    );
    await db.query(`UPDATE jobs SET status = 'running', started_at = now() WHERE id = ANY($1::uuid[])`, [
      ids(running),
    ]);
    // The oldest queued job is a backlog job of the lowest priority.
    const oldest = new Date(Date.now() - 3_600_000);
    await db.query(`UPDATE jobs SET created_at = $2 WHERE id = $1`, [backlog[3]?.id, oldest]);

    const levels = await queries.queueLevels([queue, 'nothing-here']);
    expect(levels.get(queue)).toEqual({
      backlog: 5,
      released: 3,
      scheduled: 2,
      running: 4,
      oldestQueuedAt: oldest,
      queuedByPriority: QUEUED_BY_PRIORITY,
    });
    expect(levels.get('nothing-here')).toEqual({
      backlog: 0,
      released: 0,
      scheduled: 0,
      running: 0,
      oldestQueuedAt: null,
      queuedByPriority: Array<number>(10).fill(0),
    });

    // A released job older than every backlog job is the oldest.
    const older = new Date(Date.now() - 7_200_000);
    await db.query(`UPDATE jobs SET created_at = $2 WHERE id = $1`, [released[0]?.id, older]);
    expect((await queries.queueLevels([queue])).get(queue)?.oldestQueuedAt).toEqual(older);
    expect(await queries.queueLevels([])).toEqual(new Map());
  });
});
