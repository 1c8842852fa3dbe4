import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '@switchyard/testing';
import { createDataSource, runMigrations } from './data-source';
import { JOB_EVENT_COLUMNS } from './job-messages';
import { CLAIMED_JOB_COLUMNS, JobsRepository, SEQ_BLOCK, type NewJob } from './jobs.repository';

function newJob(n: number): NewJob {
  return {
    id: randomUUID(),
    tenant: 'acme',
    type: 'synthetic',
    queue: 'default',
    priority: 5,
    maxAttempts: 3,
    timeoutMs: 60000,
    correlationId: `corr-${n}`,
    idempotencyKey: null,
    requestHash: 'h',
    payload: { durationMs: 0, n },
    metadata: { big: 'x'.repeat(100) },
  };
}

const last = { step: null, message: null };

describe('the worker batched claim and completion against PostgreSQL', () => {
  let database: TestDatabase;
  let db: DataSource;
  let jobs: JobsRepository;

  async function insert(count: number): Promise<string[]> {
    const list = Array.from({ length: count }, (_, i) => newJob(i));
    await jobs.insertJobs(list, []);
    return list.map((j) => j.id);
  }

  beforeAll(async () => {
    database = await createTestDatabase(runMigrations);
    db = createDataSource(database.url, { poolSize: 4 });
    await db.initialize();
    jobs = new JobsRepository(db);
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  it('claims several jobs in one statement and leaves out running, cancelled and finished ones', async () => {
    const [queued1, queued2, retrying, running, cancelled, cancelRequested, finished] = await insert(7);
    await db.query(`UPDATE jobs SET status = 'retrying', attempts = 1 WHERE id = $1`, [retrying]);
    expect((await jobs.claimMany([running], 'other-worker', 30000))[0]).not.toBeNull();
    await db.query(`UPDATE jobs SET status = 'cancelled', cancel_requested = true WHERE id = $1`, [
      cancelled,
    ]);
    await db.query(`UPDATE jobs SET cancel_requested = true WHERE id = $1`, [cancelRequested]);
    await jobs.claimMany([finished], 'w0', 30000);
    await jobs.completeMany('w0', [{ jobId: finished, result: 1, resultUrl: null, last }]);
    const unknown = randomUUID();

    const requested = [
      queued1,
      running,
      queued2,
      cancelled,
      retrying,
      cancelRequested,
      finished,
      queued1, // a second delivery of the same job in the same batch
      unknown,
      'not-a-uuid',
    ];
    const claimed = await jobs.claimMany(requested, 'w1', 30000);

    expect(claimed.map((row) => row?.id ?? null)).toEqual([
      queued1,
      null,
      queued2,
      null,
      retrying,
      null,
      null,
      null,
      null,
      null,
    ]);
    const rows = claimed.filter((row) => row !== null);
    // Only the columns the runner and its events need: no result or metadata.
    for (const row of rows) expect(Object.keys(row).sort()).toEqual([...CLAIMED_JOB_COLUMNS].sort());
    expect(rows.map((r) => [r.status, r.attempts, Number(r.event_seq)])).toEqual([
      ['running', 1, SEQ_BLOCK + 1],
      ['running', 1, SEQ_BLOCK + 1],
      ['running', 2, SEQ_BLOCK + 1],
    ]);
    expect(rows[0].payload).toEqual({ durationMs: 0, n: 0 });
    // One statement, one transaction: they all started at the same transaction time.
    expect(new Set(rows.map((r) => r.started_at!.getTime())).size).toBe(1);
    const leases: { id: string; lease_owner: string }[] = await db.query(
      `SELECT id, lease_owner FROM jobs WHERE id = ANY($1::uuid[]) ORDER BY id`,
      [[queued1, queued2, retrying, running]],
    );
    expect(Object.fromEntries(leases.map((r) => [r.id, r.lease_owner]))).toEqual({
      [queued1]: 'w1',
      [queued2]: 'w1',
      [retrying]: 'w1',
      [running]: 'other-worker',
    });
  });

  it('gives each job to exactly one of two racing batched claims, and to nobody afterwards', async () => {
    const ids = await insert(20);
    const [a, b] = await Promise.all([
      jobs.claimMany(ids, 'racer-a', 30000),
      jobs.claimMany([...ids].reverse(), 'racer-b', 30000),
    ]);
    const winners = [...a, ...b].filter((row) => row !== null);
    expect(winners.map((row) => row.id).sort()).toEqual([...ids].sort());
    expect(winners.every((row) => row.attempts === 1)).toBe(true);
    expect(await jobs.claimMany(ids, 'late', 30000)).toEqual(ids.map(() => null));
  });

  it('completes in one statement only the rows still leased to the owner, each with its own outcome', async () => {
    const [mine1, mine2, taken, done] = await insert(4);
    await jobs.claimMany([mine1, mine2, done], 'w1', 30000);
    await jobs.claimMany([taken], 'w2', 30000);
    await jobs.completeMany('w1', [{ jobId: done, result: 'earlier', resultUrl: null, last }]);

    const updated = await jobs.completeMany('w1', [
      {
        jobId: mine2,
        result: { n: 2 },
        resultUrl: `/api/v1/jobs/${mine2}/result`,
        last: { step: 's2', message: 'm2' },
      },
      { jobId: taken, result: 'x', resultUrl: null, last },
      { jobId: mine1, result: null, resultUrl: null, last: { step: 's1', message: null } },
      { jobId: done, result: 'again', resultUrl: null, last },
    ]);

    expect(updated.map((row) => row?.id ?? null)).toEqual([mine2, null, mine1, null]);
    for (const row of updated.filter((r) => r !== null)) {
      // The columns a lifecycle event is built from, and nothing else (no payload, no result), with
      // the time the statement wrote the event's history row at.
      expect(Object.keys(row).sort()).toEqual([...JOB_EVENT_COLUMNS, 'event_at'].sort());
      expect(row.event_at).toEqual(row.finished_at);
      expect(row).toMatchObject({ status: 'completed', progress: 100, attempts: 1 });
      expect(Number(row.event_seq)).toBe(SEQ_BLOCK + 2);
      expect(row.finished_at).toBeInstanceOf(Date);
    }
    expect(updated[0]).toMatchObject({
      step: 's2',
      message: 'm2',
      result_url: `/api/v1/jobs/${mine2}/result`,
    });
    expect(updated[2]).toMatchObject({ step: 's1', message: null, result_url: null });

    const stored = await Promise.all([mine1, mine2, taken, done].map((id) => jobs.findById(id)));
    expect(stored.map((r) => [r?.status, r?.result, r?.lease_owner, Number(r?.progress_seq)])).toEqual([
      ['completed', null, null, SEQ_BLOCK + 2],
      ['completed', { n: 2 }, null, SEQ_BLOCK + 2],
      // Reports its claim's `started` event (seq 2), as that event's projection did.
      ['running', null, 'w2', 2],
      ['completed', 'earlier', null, SEQ_BLOCK + 2],
    ]);
  });
});
