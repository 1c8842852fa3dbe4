import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '@switchyard/testing';
import { createDataSource, MIGRATIONS, runMigrations } from './data-source';
import { IdempotencyKeyTaken } from './errors';
import { JobsRepository, type NewJob } from './jobs.repository';
import type { OutboxMessage } from './job-messages';

/** An outbox row whose payload is whatever the test stores (the repository does not read it). */
function outboxMessage(
  jobId: string,
  payload: object,
  options: OutboxMessage['options'] = {},
  name: OutboxMessage['name'] = 'switchyard.job.dispatch',
): OutboxMessage {
  return { jobId, name, payload, options } as OutboxMessage;
}

function newJob(overrides: Partial<NewJob> = {}): NewJob {
  return {
    id: randomUUID(),
    tenant: 'acme',
    type: 'synthetic',
    queue: 'default',
    priority: 5,
    maxAttempts: 3,
    timeoutMs: 60000,
    correlationId: 'corr-1',
    idempotencyKey: null,
    requestHash: 'h',
    payload: { durationMs: 0 },
    metadata: {},
    ...overrides,
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
      outboxMessage(job.id, { seq: 1 }, {}, 'switchyard.job.queued'),
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
