import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '@switchyard/testing';
import { createDataSource, runMigrations } from './data-source';
import { JOB_EVENT_COLUMNS } from './job-messages';
import { poolOf } from './pool';
import { CLAIMED_JOB_COLUMNS, JobsRepository, SEQ_BLOCK, type NewJob } from './jobs.repository';
import { newJob } from './jobs.testing';

function numberedJob(n: number): NewJob {
  return newJob({
    correlationId: `corr-${n}`,
    payload: { durationMs: 0, n },
    metadata: { big: 'x'.repeat(100) },
  });
}

const last = { step: null, message: null };

describe('the worker batched claim and completion against PostgreSQL', () => {
  let database: TestDatabase;
  let db: DataSource;
  let jobs: JobsRepository;

  async function insert(count: number): Promise<string[]> {
    const list = Array.from({ length: count }, (_, i) => numberedJob(i));
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

  it('completes and claims in one statement (one transaction), with the history rows of both', async () => {
    const [running1, running2, taken, next1, next2, cancelRequested] = await insert(6);
    await jobs.claimMany([running1, running2], 'w1', 30000);
    await jobs.claimMany([taken], 'w2', 30000);
    await db.query(`UPDATE jobs SET cancel_requested = true WHERE id = $1`, [cancelRequested]);
    const query = jest.spyOn(poolOf(db), 'query');

    const turn = await jobs.completeAndClaim(
      'w1',
      30000,
      [
        { jobId: running2, result: { n: 2 }, resultUrl: null, last: { step: 's2', message: 'm2' } },
        { jobId: taken, result: 'x', resultUrl: null, last },
        { jobId: running1, result: 1, resultUrl: null, last },
      ],
      // A second delivery of a job this very statement completes, a running job of another worker,
      // one with a cancel request, a malformed id, and the same new job twice.
      [next2, running1, taken, cancelRequested, 'not-a-uuid', next1, next2],
    );

    expect(query).toHaveBeenCalledTimes(1);
    query.mockRestore();
    expect(turn.completed.map((row) => row?.id ?? null)).toEqual([running2, null, running1]);
    expect(turn.claimed.map((row) => row?.id ?? null)).toEqual([next2, null, null, null, null, next1, null]);
    // The shapes completeMany and claimMany return.
    for (const row of turn.completed.filter((r) => r !== null)) {
      expect(Object.keys(row).sort()).toEqual([...JOB_EVENT_COLUMNS, 'event_at'].sort());
      expect(row).toMatchObject({ status: 'completed', progress: 100, attempts: 1 });
      expect(Number(row.event_seq)).toBe(SEQ_BLOCK + 2);
      expect(row.event_at).toEqual(row.finished_at);
    }
    expect(turn.completed[0]).toMatchObject({ step: 's2', message: 'm2' });
    for (const row of turn.claimed.filter((r) => r !== null)) {
      expect(Object.keys(row).sort()).toEqual([...CLAIMED_JOB_COLUMNS].sort());
      expect(row).toMatchObject({ status: 'running', attempts: 1 });
      expect(Number(row.event_seq)).toBe(SEQ_BLOCK + 1);
      // One transaction: the claims started when the completions finished.
      expect(row.started_at).toEqual(turn.completed[0]!.finished_at);
    }
    expect(turn.claimed[0]!.payload).toEqual({ durationMs: 0, n: 4 });

    const history: { job_id: string; seq: string; event: string; status: string; step: string | null }[] =
      await db.query(
        `SELECT job_id, seq, event, status, step FROM job_events WHERE job_id = ANY($1::uuid[]) ORDER BY job_id, seq`,
        [[running1, running2, taken, next1, next2, cancelRequested]],
      );
    const of = (id: string) =>
      history.filter((h) => h.job_id === id).map((h) => [Number(h.seq), h.event, h.status, h.step]);
    // Each job's `started` row of its claim, and `completed` after it for the completed ones.
    expect(of(running1)).toEqual([
      [2, 'started', 'running', null],
      [SEQ_BLOCK + 2, 'completed', 'completed', null],
    ]);
    expect(of(running2)).toEqual([
      [2, 'started', 'running', null],
      [SEQ_BLOCK + 2, 'completed', 'completed', 's2'],
    ]);
    expect(of(taken)).toEqual([[2, 'started', 'running', null]]);
    expect(of(next1)).toEqual([[2, 'started', 'running', null]]);
    expect(of(next2)).toEqual([[2, 'started', 'running', null]]);
    expect(of(cancelRequested)).toEqual([]);
    const stored = await Promise.all(
      [running1, taken, next1, cancelRequested].map((id) => jobs.findById(id)),
    );
    expect(stored.map((r) => [r?.status, r?.lease_owner])).toEqual([
      ['completed', null],
      ['running', 'w2'],
      ['running', 'w1'],
      ['queued', null],
    ]);
  });

  it('commits neither part when the statement fails', async () => {
    const [running, next] = await insert(2);
    await jobs.claimMany([running], 'w1', 30000);
    // A NUL character: PostgreSQL refuses it in jsonb, so the whole statement fails.
    await expect(
      jobs.completeAndClaim(
        'w1',
        30000,
        [{ jobId: running, result: 'a\u0000b', resultUrl: null, last }],
        [next],
      ),
    ).rejects.toThrow();
    const stored = await Promise.all([running, next].map((id) => jobs.findById(id)));
    expect(stored.map((r) => r?.status)).toEqual(['running', 'queued']);
    const history: { n: number }[] = await db.query(
      `SELECT count(*)::int AS n FROM job_events WHERE job_id = $1`,
      [next],
    );
    expect(history[0].n).toBe(0);
  });

  it('gives each job to exactly one of two racing turns that complete and claim overlapping rows', async () => {
    const ids = await insert(30);
    const [doneA, doneB, fresh] = [ids.slice(0, 5), ids.slice(5, 10), ids.slice(10)];
    await jobs.claimMany(doneA, 'racer-a', 30000);
    await jobs.claimMany(doneB, 'racer-b', 30000);
    const outcomes = (list: string[]) =>
      list.map((jobId) => ({ jobId, result: null, resultUrl: null, last }));
    const [a, b] = await Promise.all([
      jobs.completeAndClaim('racer-a', 30000, outcomes([...doneA, ...doneB]), [...fresh, ...doneB]),
      jobs.completeAndClaim('racer-b', 30000, outcomes([...doneB, ...doneA]), [...fresh].reverse()),
    ]);
    expect(a.completed.map((r) => r?.id ?? null)).toEqual([...doneA, ...doneB.map(() => null)]);
    expect(b.completed.map((r) => r?.id ?? null)).toEqual([...doneB, ...doneA.map(() => null)]);
    const winners = [...a.claimed, ...b.claimed].filter((row) => row !== null);
    expect(winners.map((row) => row.id).sort()).toEqual([...fresh].sort());
  });
});
