import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { amqpNames, type JobEventData } from '@switchyard/contracts';
import { createTestDatabase, type TestDatabase } from '@switchyard/testing';
import { createDataSource, runMigrations } from './data-source';
import { JobsRepository } from './jobs.repository';
import { LifecycleRepository } from './lifecycle.repository';
import { ProjectionRepository, type ProjectedEvent } from './projection.repository';
import { newJob } from './jobs.testing';

function event(jobId: string, seq: number, overrides: Partial<JobEventData> = {}): ProjectedEvent {
  return {
    event: 'progress',
    time: new Date(Date.UTC(2025, 0, 1) + seq * 1000).toISOString(),
    correlationId: `corr-${jobId}`,
    data: {
      jobId,
      tenant: 'acme',
      type: 'synthetic',
      queue: 'default',
      status: 'running',
      step: `s${seq}`,
      progress: seq * 10,
      message: `m${seq}`,
      attempt: 1,
      seq,
      ...overrides,
    },
  };
}

describe('ProjectionRepository against PostgreSQL', () => {
  let database: TestDatabase;
  let db: DataSource;
  let jobs: JobsRepository;
  let projection: ProjectionRepository;

  /** The projected columns of a job, with xmin: it changes whenever the row is updated at all. */
  const state = async (id: string) => {
    const rows: {
      step: string | null;
      progress: number;
      message: string | null;
      progress_seq: string;
      xmin: string;
    }[] = await db.query(`SELECT step, progress, message, progress_seq, xmin::text FROM jobs WHERE id = $1`, [
      id,
    ]);
    return rows[0];
  };
  const history = async (id: string) => {
    const rows: { seq: string; event: string; step: string | null; created_at: Date; error: unknown }[] =
      await db.query(
        `SELECT seq, event, step, created_at, error FROM job_events WHERE job_id = $1 ORDER BY seq`,
        [id],
      );
    return rows;
  };

  beforeAll(async () => {
    database = await createTestDatabase(runMigrations);
    db = createDataSource(database.url, { poolSize: 4 });
    await db.initialize();
    jobs = new JobsRepository(db);
    projection = new ProjectionRepository(db);
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  it('writes the newest progress per job and one history row per (job, seq), in any order, with repeats', async () => {
    const [a, b] = [newJob(), newJob()];
    await jobs.insertJobs([a, b], []);
    await projection.projectEvents([
      event(a.id, 3),
      event(b.id, 1),
      event(a.id, 1),
      event(a.id, 3, { step: 'repeat of 3 with other content' }),
      event(b.id, 2, { step: null, message: null }),
      event(a.id, 2),
    ]);
    expect(await state(a.id)).toMatchObject({ step: 's3', progress: 30, message: 'm3', progress_seq: '3' });
    expect(await state(b.id)).toMatchObject({ step: null, progress: 20, message: null, progress_seq: '2' });
    const rows = await history(a.id);
    expect(rows.map((r) => [r.seq, r.step])).toEqual([
      ['1', 's1'],
      ['2', 's2'],
      ['3', 's3'],
    ]);
    expect(rows[2].created_at.toISOString()).toBe(event(a.id, 3).time);
    expect((await history(b.id)).map((r) => r.seq)).toEqual(['1', '2']);
  });

  it('changes nothing for stale or repeated events, not even the job row version', async () => {
    const job = newJob();
    await jobs.insertJobs([job], []);
    await projection.projectEvents([event(job.id, 1), event(job.id, 5)]);
    const before = await state(job.id);
    const historyBefore = await history(job.id);
    await projection.projectEvents([event(job.id, 5, { step: 'again' }), event(job.id, 1), event(job.id, 4)]);
    await projection.projectEvents([event(job.id, 5), event(job.id, 1)]);
    expect(await state(job.id)).toEqual(before);
    expect(before).toMatchObject({ step: 's5', progress_seq: '5' });
    // The late seq 4 is history (it happened), but does not move progress back.
    expect((await history(job.id)).map((r) => r.seq)).toEqual(['1', '4', '5']);
    expect((await history(job.id)).filter((r) => r.seq !== '4')).toEqual(historyBefore);
  });

  it('does not overwrite what a newer writer (the worker finishing the job) already recorded', async () => {
    const job = newJob();
    await jobs.insertJobs([job], []);
    const [claimed] = await jobs.claimMany([job.id], 'w1', 30000);
    const finished = await jobs.finish(
      job.id,
      'w1',
      { status: 'completed', result: null, resultUrl: null },
      { step: 'done', progress: 100, message: 'finished' },
    );
    expect(claimed && finished).toBeTruthy();
    const before = await state(job.id);
    await projection.projectEvents([event(job.id, 3)]);
    expect(await state(job.id)).toMatchObject({ step: 'done', progress: 100, message: 'finished' });
    // The late report is history; the claim and the finish wrote their own rows (started, completed).
    expect((await history(job.id)).map((r) => r.seq)).toEqual(['2', '3', '10002']);
    // The row the report is stale for keeps its version (xmin): only its history was written.
    expect(await state(job.id)).toEqual(before);
  });

  it('skips the events of a purged job and still projects the rest of the batch', async () => {
    const [kept, purged] = [newJob(), newJob()];
    await jobs.insertJobs([kept, purged], []);
    await db.query(`DELETE FROM jobs WHERE id = $1`, [purged.id]);
    await projection.projectEvents([
      event(purged.id, 1),
      event(kept.id, 1),
      event(purged.id, 2),
      event(randomUUID(), 7),
    ]);
    expect(await history(purged.id)).toEqual([]);
    expect((await history(kept.id)).map((r) => r.seq)).toEqual(['1']);
    expect(await state(kept.id)).toMatchObject({ progress_seq: '1' });
  });

  it('writes history and progress atomically: a failing batch leaves neither', async () => {
    const job = newJob();
    await jobs.insertJobs([job], []);
    const before = await state(job.id);
    // The second event's time is not a timestamp: its history row cannot be written, so the first
    // event's progress (which does not need it) must not be either.
    await expect(
      projection.projectEvents([event(job.id, 1), { ...event(job.id, 2), time: 'not a time' }]),
    ).rejects.toThrow();
    expect(await history(job.id)).toEqual([]);
    expect(await state(job.id)).toEqual(before);
  });

  it('stores errors as JSON and copes with an empty batch', async () => {
    const job = newJob();
    await jobs.insertJobs([job], []);
    const error = { code: 'handler_error', message: 'boom', retryable: false };
    await projection.projectEvents([{ ...event(job.id, 2, { status: 'failed', error }), event: 'failed' }]);
    expect(await history(job.id)).toMatchObject([{ seq: '2', event: 'failed', error }]);
    await expect(projection.projectEvents([])).resolves.toBeUndefined();
  });

  it('projects a full tracker batch of 500 jobs × 3 events in one call', async () => {
    const batch = Array.from({ length: 500 }, () => newJob());
    await jobs.insertJobs(batch, []);
    const events = [1, 3, 2].flatMap((seq) => batch.map((j) => event(j.id, seq)));
    await projection.projectEvents(events);
    const rows: { progress_seq: string; n: string }[] = await db.query(
      `SELECT j.progress_seq, count(e.*)::text AS n FROM jobs j JOIN job_events e ON e.job_id = j.id
       WHERE j.id = ANY($1::uuid[]) GROUP BY j.id, j.progress_seq`,
      [batch.map((j) => j.id)],
    );
    expect(rows).toHaveLength(500);
    expect(rows.every((r) => r.progress_seq === '3' && r.n === '3')).toBe(true);
  });

  describe('history never outlives its job when a deletion races a projection', () => {
    let other: Client;

    beforeEach(async () => {
      other = new Client({ connectionString: database.url });
      await other.connect();
    });

    afterEach(async () => {
      await other.query('ROLLBACK').catch(() => undefined);
      await other.end();
    });

    /** Resolves once some session of this database waits for a row lock (deadline 10 s). */
    const someoneWaitsForALock = async () => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const rows: { n: number }[] = await db.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        );
        if (rows[0].n > 0) return;
        if (Date.now() > deadline) throw new Error('no session waited for a lock within 10 s');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };

    it('skips the history of a job a deletion removes while the projection runs', async () => {
      const job = newJob();
      await jobs.insertJobs([job], []);
      // A deletion (retention's or a discard's, by hand) that has removed the job and its history
      // but not committed yet: the projection's snapshot still sees the job.
      await other.query('BEGIN');
      await other.query('DELETE FROM job_events WHERE job_id = $1', [job.id]);
      await other.query('DELETE FROM jobs WHERE id = $1', [job.id]);
      const projected = projection.projectEvents([event(job.id, 1)]);
      await someoneWaitsForALock();
      await other.query('COMMIT');
      await projected;
      expect(await history(job.id)).toEqual([]);
    });

    it('deletes the history a projection committed while a discard waited for it', async () => {
      const lifecycle = new LifecycleRepository(db, amqpNames(), 'gateway');
      const job = newJob();
      await jobs.insertJobs([job], []);
      await jobs.claimMany([job.id], 'w1', 30000);
      const error = { code: 'bad', message: 'no', retryable: false };
      await jobs.finish(
        job.id,
        'w1',
        { status: 'failed', error, deadLettered: true },
        {
          step: null,
          progress: 0,
          message: null,
        },
      );
      // A projection (by hand) that has locked the job row as ProjectionRepository does and
      // written a late progress report's history row, not committed yet.
      await other.query('BEGIN');
      await other.query('SELECT 1 FROM jobs WHERE id = $1 FOR KEY SHARE', [job.id]);
      await other.query(
        `INSERT INTO job_events (job_id, seq, event, status, progress, attempt, correlation_id, created_at)
         VALUES ($1, 5, 'progress', 'running', 50, 1, 'corr-1', now())`,
        [job.id],
      );
      const discarded = lifecycle.discardDeadLettered(job.id);
      await someoneWaitsForALock();
      await other.query('COMMIT');
      expect(await discarded).toBe(true);
      expect(await history(job.id)).toEqual([]);
    });
  });
});
