import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { amqpNames, jobEventName, type JobCloudEvent } from '@switchyard/contracts';
import { createTestDatabase, type TestDatabase } from '@switchyard/testing';
import { createDataSource, MIGRATIONS, runMigrations } from './data-source';
import { IdempotencyKeyTaken } from './errors';
import { JobsRepository, type NewJob } from './jobs.repository';
import { eventOutboxMessage, jobEventFromRow, queuedEvent, type OutboxMessage } from './job-messages';
import { LifecycleRepository } from './lifecycle.repository';
import { newJob } from './jobs.testing';

/** An outbox row whose payload is whatever the test stores (the repository does not read it). */
function outboxMessage(
  jobId: string,
  payload: object,
  options: OutboxMessage['options'] = {},
  name: OutboxMessage['name'] = 'switchyard.job.dispatch',
): OutboxMessage {
  return { jobId, name, payload, options } as OutboxMessage;
}

/** The gateway's `job.queued` event (seq 1) of a job inserted `queued`. */
function queuedEventNow(job: NewJob): JobCloudEvent {
  return queuedEvent('gateway', job, new Date().toISOString());
}

interface HistoryRow {
  job_id: string;
  seq: string;
  event: string;
  status: string;
  step: string | null;
  progress: number;
  message: string | null;
  attempt: number;
  error: unknown;
  correlation_id: string;
  created_at: Date;
}

/** The history row the progress-tracker wrote for a delivered event (ProjectionRepository). */
function trackerRowOf(event: JobCloudEvent): HistoryRow {
  const d = event.data;
  return {
    job_id: d.jobId,
    seq: String(d.seq),
    event: jobEventName(event),
    status: d.status,
    step: d.step ?? null,
    progress: d.progress,
    message: d.message ?? null,
    attempt: d.attempt,
    error: d.error ?? null,
    correlation_id: event.correlationid,
    created_at: new Date(event.time),
  };
}

describe('JobsRepository against PostgreSQL', () => {
  let database: TestDatabase;
  let db: DataSource;
  let jobs: JobsRepository;

  beforeAll(async () => {
    database = await createTestDatabase(async (url) => {
      expect(await runMigrations(url)).toEqual(MIGRATIONS.map((m) => m.name));
      expect(await runMigrations(url)).toEqual([]); // idempotent
    });
    db = createDataSource(database.url, { poolSize: 8 });
    await db.initialize();
    jobs = new JobsRepository(db);
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  it('inserts jobs with their outbox rows in one transaction', async () => {
    const job = newJob();
    const { rows, outboxIds } = await jobs.insertJobs(
      [job],
      [outboxMessage(job.id, { jobId: job.id }, { priority: 5 })],
    );
    expect(rows[0].status).toBe('queued');
    expect(outboxIds).toHaveLength(1);
    expect(await jobs.pendingOutbox(0, 10)).toEqual([
      expect.objectContaining({ jobId: job.id, name: 'switchyard.job.dispatch' }),
    ]);
    await jobs.deleteOutbox(outboxIds);
    expect(await jobs.pendingOutbox(0, 10)).toEqual([]);
  });

  it('rolls back the job when its outbox row cannot be written', async () => {
    const job = newJob();
    await expect(jobs.insertJobs([job], [outboxMessage('not-a-uuid', {})])).rejects.toThrow();
    expect(await jobs.findById(job.id)).toBeNull();
  });

  it('writes jobs and every outbox row in one statement, the outbox ids in the order of the messages', async () => {
    const batch = Array.from({ length: 30 }, () => newJob({ tenant: 'one-statement' }));
    const messages = batch.flatMap((job) => [
      outboxMessage(job.id, { jobId: job.id }),
      eventOutboxMessage(queuedEventNow(job)),
    ]);
    const { rows, outboxIds } = await jobs.insertJobs(batch, messages);
    expect(rows.map((r) => r.id).sort()).toEqual(batch.map((j) => j.id).sort());
    expect(rows.every((r) => !('outbox_ids' in r))).toBe(true);
    const stored = await db.query<{ id: string; job_id: string; name: string }[]>(
      `SELECT id::text, job_id, name FROM outbox WHERE id = ANY($1::bigint[])`,
      [outboxIds],
    );
    const byId = new Map(stored.map((r) => [r.id, r]));
    expect(outboxIds.map((id) => byId.get(id)?.job_id)).toEqual(messages.map((m) => m.jobId));
    expect(outboxIds.map((id) => byId.get(id)?.name)).toEqual(messages.map((m) => m.name));
    await jobs.deleteOutbox(outboxIds);
  });

  it('stores every field as given, JSON documents included', async () => {
    const payload = { list: [1, 'x', { deep: null }], text: 'quote " and back\\slash', n: 1.5, ok: true };
    const job = newJob({ idempotencyKey: 'field-check', priority: 9, metadata: { source: 'é€' } });
    const message = outboxMessage(job.id, payload, { priority: 9 });
    const { rows, outboxIds } = await jobs.insertJobs([{ ...job, payload }], [message]);
    const stored = await jobs.findById(job.id);
    expect(stored).toMatchObject({
      tenant: job.tenant,
      type: job.type,
      queue: job.queue,
      status: 'queued',
      priority: 9,
      max_attempts: job.maxAttempts,
      timeout_ms: job.timeoutMs,
      correlation_id: job.correlationId,
      idempotency_key: 'field-check',
      request_hash: job.requestHash,
      payload,
      metadata: { source: 'é€' },
    });
    expect(rows[0]).toEqual(stored);
    expect((await jobs.pendingOutbox(0, 100)).find((o) => o.jobId === job.id)).toMatchObject({
      payload,
      options: { priority: 9 },
    });
    await jobs.deleteOutbox(outboxIds);
  });

  it('returns each inserted row exactly as SELECT * reads it back, column order and jsonb key order included', async () => {
    const flowId = randomUUID();
    const parent = newJob({ tenant: 'returned' });
    await jobs.insertJobs([parent], []);
    const group = [
      // jsonb orders keys (shorter first) and keeps the last of a repeated one.
      newJob({
        tenant: 'returned',
        payload: { zeta: 1, a: { yy: [1.5, 'x'], b: null }, '10': 'n', '2': true },
      }),
      newJob({
        tenant: 'returned',
        released: true,
        metadata: { longer: 'x', k: 'é€' },
        idempotencyKey: 'r-1',
      }),
      // Sub-millisecond times are rounded by timestamptz(3); uuids are stored lower-case.
      newJob({ tenant: 'returned', runAt: '2099-01-02T03:04:05.123456+02:00' }),
      newJob({
        tenant: 'returned',
        scheduleId: randomUUID().toUpperCase(),
        scheduledFor: '2026-12-06T10:00:00.0004Z',
        concurrencyKey: 'ck',
        rateKey: 'rk',
        webhookUrl: 'https://hooks.example/a',
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        tracestate: 'k=v',
      }),
      newJob({
        tenant: 'returned',
        flowId: flowId.toUpperCase(),
        ref: 'step-a',
        onDependencyFailure: 'skip',
        pendingDeps: 2,
        spawnedBy: parent.id,
        spawnIndex: 3,
      }),
    ];
    const { rows } = await jobs.insertJobs(group, []);
    const stored = await Promise.all(group.map((job) => jobs.findById(job.id)));
    expect(rows.map((r) => r.status)).toEqual(['queued', 'queued', 'scheduled', 'queued', 'waiting']);
    expect(rows).toEqual(stored);
    expect(JSON.stringify(rows)).toBe(JSON.stringify(stored));
  });

  it('writes nothing, not even the outbox rows, when an idempotency key of the batch is taken', async () => {
    const first = newJob({ tenant: 'keyed', idempotencyKey: 'k-1' });
    await jobs.insertJobs([first], []);
    const again = newJob({ tenant: 'keyed', idempotencyKey: 'k-1' });
    const other = newJob({ tenant: 'keyed' });
    const error: unknown = await jobs
      .insertJobs(
        [other, again],
        [other, again].map((j) => outboxMessage(j.id, {})),
      )
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(IdempotencyKeyTaken);
    expect(await jobs.findById(other.id)).toBeNull();
    const outbox = await db.query<unknown[]>(`SELECT 1 FROM outbox WHERE job_id = ANY($1::uuid[])`, [
      [other.id, again.id],
    ]);
    expect(outbox).toHaveLength(0);
  });

  it('runs the insert, the claim and the completion as named statements, the insert in the caller’s transaction', async () => {
    // One connection, so that pg_prepared_statements (per session) shows every statement it ran.
    const one = createDataSource(database.url, { poolSize: 1 });
    await one.initialize();
    try {
      const repo = new JobsRepository(one);
      const prepared = async () =>
        (await one.query<{ name: string }[]>(`SELECT name FROM pg_prepared_statements`)).map((r) => r.name);
      const rolledBack = newJob({ tenant: 'named' });
      await expect(
        one.transaction(async (m) => {
          await repo.insertJobs([rolledBack], [], m);
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      expect(await repo.findById(rolledBack.id)).toBeNull();
      const job = newJob({ tenant: 'named' });
      await one.transaction((m) => repo.insertJobs([job], [], m));
      expect(await repo.findById(job.id)).toEqual(expect.objectContaining({ status: 'queued' }));
      const [claimed] = await repo.claimMany([job.id], 'w-named', 60000);
      expect(claimed?.status).toBe('running');
      const [done] = await repo.completeMany('w-named', [
        { jobId: job.id, result: null, resultUrl: null, last: { step: null, message: null } },
      ]);
      expect(done?.status).toBe('completed');
      expect(await prepared()).toEqual(
        expect.arrayContaining(['switchyard_insert_jobs', 'switchyard_claim', 'switchyard_complete']),
      );
    } finally {
      await one.destroy();
    }
  });

  it('lets exactly one of many concurrent claims win', async () => {
    const job = newJob();
    await jobs.insertJobs([job], []);
    const claims = await Promise.all(
      Array.from({ length: 8 }, (_, i) => jobs.claimMany([job.id], `worker-${i}`, 30000)),
    );
    const winners = claims.flatMap(([c], i) => (c ? [{ row: c, owner: `worker-${i}` }] : []));
    expect(winners).toHaveLength(1);
    expect(winners[0].row.attempts).toBe(1);
    expect(Number(winners[0].row.event_seq)).toBe(10001);
    // A finished job cannot be claimed again, and only the lease holder can finish it.
    const owner = winners[0].owner;
    expect((await jobs.findById(job.id))?.lease_owner).toBe(owner);
    const last = { step: 'done', progress: 100, message: null };
    expect(
      await jobs.finish(job.id, 'someone-else', { status: 'completed', result: 1, resultUrl: null }, last),
    ).toBeNull();
    const finished = await jobs.finish(
      job.id,
      owner,
      { status: 'completed', result: { ok: true }, resultUrl: null },
      last,
    );
    expect(finished?.row.status).toBe('completed');
    expect(Number(finished?.row.event_seq)).toBe(10002);
    expect(finished?.outbox).toEqual([]);
    expect(await jobs.claimMany([job.id], 'late-worker', 30000)).toEqual([null]);
  });

  it('hands a running job back without counting the attempt', async () => {
    const job = newJob();
    await jobs.insertJobs([job], []);
    await jobs.claimMany([job.id], 'w1', 30000);
    expect(await jobs.handBack(job.id, 'w2')).toBeNull();
    // The updated row, for the hand-back's `queued` event.
    expect(await jobs.handBack(job.id, 'w1')).toMatchObject({ id: job.id, status: 'queued' });
    const row = await jobs.findById(job.id);
    expect(row).toMatchObject({ status: 'queued', attempts: 0, lease_owner: null });
  });

  async function historyOf(jobId: string): Promise<HistoryRow[]> {
    return db.query(
      `SELECT job_id, seq::text, event, status, step, progress, message, attempt, error, correlation_id, created_at
       FROM job_events WHERE job_id = $1 ORDER BY job_events.seq`,
      [jobId],
    );
  }

  it('writes a queued job’s `queued` history row in its insert; scheduled and waiting jobs get none', async () => {
    const queued = newJob({ correlationId: 'corr-history' });
    const scheduled = newJob({ runAt: new Date(Date.now() + 3_600_000).toISOString() });
    const waiting = newJob({ pendingDeps: 1 });
    const event = queuedEventNow(queued);
    const { outboxIds } = await jobs.insertJobs([queued, scheduled, waiting], [eventOutboxMessage(event)]);
    expect(await historyOf(queued.id)).toEqual([trackerRowOf(event)]);
    expect(await historyOf(scheduled.id)).toEqual([]);
    expect(await historyOf(waiting.id)).toEqual([]);
    // The row reports the event's seq, as the tracker's projection of it did.
    expect((await jobs.findById(queued.id))?.progress_seq).toBe('1');
    expect((await jobs.findById(scheduled.id))?.progress_seq).toBe('0');
    await jobs.deleteOutbox(outboxIds);
  });

  it('writes the history of claim, completion, failure, retry and hand-back with the state, as the events say', async () => {
    const lifecycle = new LifecycleRepository(db, amqpNames(), 'worker');
    const [a, b, c] = [newJob(), newJob(), newJob()];
    const inserted = await jobs.insertJobs(
      [a, b, c],
      [a, b, c].map((j) => eventOutboxMessage(queuedEventNow(j))),
    );
    await jobs.deleteOutbox(inserted.outboxIds);
    const events = new Map<string, JobCloudEvent[]>([a, b, c].map((j) => [j.id, []]));
    const emit = (event: JobCloudEvent) => events.get(event.data.jobId)?.push(event);

    // The claim: `started`, seq the block's first number, at started_at (as the worker emits it).
    const claimed = await jobs.claimMany([a.id, b.id, c.id], 'w1', 30000);
    for (const row of claimed) {
      expect(row).not.toBeNull();
      emit(
        jobEventFromRow(
          'worker',
          'started',
          row!,
          { seq: Number(row!.event_seq) - 9999, step: null, progress: 0, message: null },
          row!.started_at,
        ),
      );
    }
    const [done] = await jobs.completeMany('w1', [
      { jobId: a.id, result: { ok: 1 }, resultUrl: null, last: { step: 'last', message: 'bye' } },
    ]);
    emit(jobEventFromRow('worker', 'completed', done!));
    const retried = await lifecycle.scheduleRetry(
      b.id,
      'w1',
      { code: 'boom', message: 'try again', retryable: true },
      60000,
      { step: 's', progress: 40, message: 'm' },
    );
    emit(jobEventFromRow('worker', 'retrying', retried!));
    const failed = await jobs.finish(
      c.id,
      'w1',
      { status: 'failed', error: { code: 'bad', message: 'no', retryable: false }, deadLettered: true },
      { step: null, progress: 10, message: null },
    );
    emit(jobEventFromRow('worker', 'failed', failed!.row));
    // b again: claimed, then handed back on shutdown.
    await db.query(`UPDATE jobs SET status = 'queued' WHERE id = $1`, [b.id]);
    const [again] = await jobs.claimMany([b.id], 'w2', 30000);
    emit(
      jobEventFromRow(
        'worker',
        'started',
        again!,
        { seq: Number(again!.event_seq) - 9999 },
        again!.started_at,
      ),
    );
    const handedBack = await jobs.handBack(b.id, 'w2');
    emit(jobEventFromRow('worker', 'queued', handedBack!));

    for (const job of [a, b, c]) {
      const history = await historyOf(job.id);
      const expected = [trackerRowOf(queuedEventNow(job)), ...events.get(job.id)!.map(trackerRowOf)];
      // The gateway's event time is its own; every other row is exactly its event.
      expect(history.map((h) => ({ ...h, created_at: undefined }))).toEqual(
        expected.map((h) => ({ ...h, created_at: undefined })),
      );
      expect(history.slice(1).map((h) => h.created_at)).toEqual(expected.slice(1).map((h) => h.created_at));
      // The job row reports the newest event's seq, as the tracker's projection of it did.
      expect((await jobs.findById(job.id))?.progress_seq).toBe(history[history.length - 1].seq);
    }
    expect((await historyOf(b.id)).map((h) => h.event)).toEqual([
      'queued',
      'started',
      'retrying',
      'started',
      'queued',
    ]);
  });

  it('writes the history of the lifecycle events it puts in the outbox, once, for stored jobs only', async () => {
    const job = newJob();
    await jobs.insertJobs([job], []);
    const [row] = await jobs.claimMany([job.id], 'w1', 30000);
    const cancelled = jobEventFromRow('worker', 'cancelled', { ...row!, event_seq: '10002' });
    const progress = jobEventFromRow('worker', 'progress', row!, { seq: 3, progress: 50 });
    const gone = queuedEventNow(newJob());
    const messages = [
      eventOutboxMessage(cancelled),
      eventOutboxMessage(progress),
      eventOutboxMessage(gone),
      outboxMessage(job.id, { jobId: job.id }),
    ];
    const ids = await jobs.insertOutbox(messages);
    expect(ids).toHaveLength(4);
    // Again (a relay's or the worker's fallback's repeat): nothing new.
    ids.push(...(await jobs.insertOutbox([eventOutboxMessage(cancelled)])));
    expect((await historyOf(job.id)).map((h) => [h.seq, h.event])).toEqual([
      ['2', 'started'],
      ['10002', 'cancelled'],
    ]);
    expect((await historyOf(job.id))[1]).toEqual(trackerRowOf(cancelled));
    expect(await historyOf(gone.data.jobId)).toEqual([]);
    await jobs.deleteOutbox(ids);
  });

  it('deletes a discarded dead-lettered job’s history with it', async () => {
    const lifecycle = new LifecycleRepository(db, amqpNames(), 'gateway');
    const tenant = `t-${randomUUID().slice(0, 6)}`;
    const [one, two] = [newJob({ tenant }), newJob({ tenant })];
    const { outboxIds } = await jobs.insertJobs(
      [one, two],
      [one, two].map((j) => eventOutboxMessage(queuedEventNow(j))),
    );
    await jobs.deleteOutbox(outboxIds);
    await jobs.claimMany([one.id, two.id], 'w1', 30000);
    for (const job of [one, two]) {
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
      expect(await historyOf(job.id)).toHaveLength(3);
    }
    expect(await lifecycle.discardDeadLettered(one.id, tenant)).toBe(true);
    expect(await historyOf(one.id)).toEqual([]);
    expect(await lifecycle.discardDeadLetteredMatching({ tenant, limit: 10 })).toEqual([two.id]);
    expect(await historyOf(two.id)).toEqual([]);
  });

  it('renews only the leases a worker still holds', async () => {
    const a = newJob();
    const b = newJob();
    await jobs.insertJobs([a, b], []);
    await jobs.claimMany([a.id], 'w1', 1000);
    await jobs.claimMany([b.id], 'w2', 1000);
    expect(await jobs.renewLeases('w1', [a.id, b.id], 30000)).toEqual([a.id]);
  });

  it('pages through a tenant’s jobs newest first with a cursor, never showing another tenant’s', async () => {
    const tenant = `t-${randomUUID().slice(0, 6)}`;
    await jobs.insertJobs(
      Array.from({ length: 5 }, () => newJob({ tenant })),
      [],
    );
    await jobs.insertJobs([newJob({ tenant: 'other' })], []);
    const first = await jobs.list({ tenant, limit: 3 });
    expect(first.rows).toHaveLength(3);
    const second = await jobs.list({ tenant, limit: 3, cursor: first.nextCursor! });
    expect(second.rows).toHaveLength(2);
    expect(second.nextCursor).toBeNull();
    const all = [...first.rows, ...second.rows];
    expect(new Set(all.map((r) => r.id)).size).toBe(5);
    expect(all.every((r) => r.tenant === tenant)).toBe(true);
    await expect(jobs.list({ tenant, limit: 3, cursor: 'garbage' })).rejects.toThrow('cursor');
  });

  it('filters a tenant’s jobs by idempotency key and by one metadata key=value (as text)', async () => {
    const tenant = `t-${randomUUID().slice(0, 6)}`;
    const tagged = newJob({ tenant, metadata: { project: 'alpha', build: 7 }, idempotencyKey: 'order-1' });
    const other = newJob({ tenant, metadata: { project: 'beta' }, idempotencyKey: 'order-2' });
    await jobs.insertJobs(
      [tagged, other, newJob({ tenant }), newJob({ tenant: 'else', metadata: { project: 'alpha' } })],
      [],
    );
    const ids = async (filter: Partial<Parameters<typeof jobs.list>[0]>) =>
      (await jobs.list({ tenant, limit: 10, ...filter })).rows.map((r) => r.id);
    expect(await ids({ idempotencyKey: 'order-1' })).toEqual([tagged.id]);
    expect(await ids({ metadata: { key: 'project', value: 'alpha' } })).toEqual([tagged.id]);
    expect(await ids({ metadata: { key: 'build', value: '7' } })).toEqual([tagged.id]);
    expect(await ids({ metadata: { key: 'project', value: 'gamma' } })).toEqual([]);
    expect(await ids({ metadata: { key: 'project', value: 'beta' }, idempotencyKey: 'order-1' })).toEqual([]);
  });
});
