import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '@switchyard/testing';
import { ApiKeysRepository } from './api-keys.repository';
import { createDataSource, runMigrations } from './data-source';
import { FilesRepository } from './files.repository';
import { JobQueriesRepository } from './job-queries.repository';
import { JobsRepository } from './jobs.repository';
import { ResultCacheRepository } from './result-cache.repository';
import { RetentionRepository } from './retention.repository';
import { newJob } from './jobs.testing';

describe('gateway repositories against PostgreSQL', () => {
  let database: TestDatabase;
  let db: DataSource;
  let jobs: JobsRepository;
  let queries: JobQueriesRepository;

  beforeAll(async () => {
    database = await createTestDatabase(runMigrations);
    db = createDataSource(database.url, { poolSize: 4 });
    await db.initialize();
    jobs = new JobsRepository(db);
    queries = new JobQueriesRepository(db);
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  /** Marks a job completed `agoSeconds` ago, as a worker would. */
  const complete = (id: string, agoSeconds = 0) =>
    db.query(
      `UPDATE jobs SET status = 'completed', started_at = now() - make_interval(secs => $2 + 1),
         finished_at = now() - make_interval(secs => $2) WHERE id = $1`,
      [id, agoSeconds],
    );

  it('stores API keys by hash, finds them, revokes them once', async () => {
    const keys = new ApiKeysRepository(db);
    const id = randomUUID();
    await keys.create({ id, tenant: 'acme', name: 'ci', scopes: ['jobs:read'], keyHash: 'hash-1' });
    expect(await keys.findByHash('hash-1')).toMatchObject({
      id,
      tenant: 'acme',
      scopes: ['jobs:read'],
      revokedAt: null,
    });
    expect(await keys.revoke(id)).toBe('hash-1');
    const revoked = await keys.findByHash('hash-1');
    expect(revoked?.revokedAt).toBeInstanceOf(Date);
    expect(await keys.revoke(id)).toBe('hash-1');
    expect((await keys.findByHash('hash-1'))?.revokedAt).toEqual(revoked?.revokedAt);
    expect(await keys.revoke(randomUUID())).toBeNull();
    expect((await keys.list('acme')).map((k) => k.id)).toEqual([id]);
  });

  it('reads many keys by hash in one statement, revoked ones included, unknown hashes left out', async () => {
    const keys = new ApiKeysRepository(db);
    const [a, b] = [randomUUID(), randomUUID()];
    await keys.create({ id: a, tenant: 'acme', name: 'a', scopes: ['jobs:write'], keyHash: 'many-a' });
    await keys.create({ id: b, tenant: 'beta', name: 'b', scopes: [], keyHash: 'many-b' });
    await keys.revoke(b);
    const found = await keys.findByHashes(['many-a', 'many-b', 'many-unknown']);
    expect([...found.keys()].sort()).toEqual(['many-a', 'many-b']);
    expect(found.get('many-a')).toEqual(await keys.findByHash('many-a'));
    expect(found.get('many-b')?.revokedAt).toBeInstanceOf(Date);
    expect(await keys.findByHashes([])).toEqual(new Map());
  });

  it('keeps files per tenant', async () => {
    const files = new FilesRepository(db);
    const id = randomUUID();
    await files.insert({
      id,
      tenant: 'acme',
      name: 'a.wav',
      contentType: 'audio/wav',
      size: 10,
      sha256: 'ab',
    });
    expect(await files.findById(id, 'acme')).toMatchObject({ id, size: 10, contentType: 'audio/wav' });
    expect(await files.findById(id, 'other')).toBeNull();
    expect(await files.findById(id, undefined)).not.toBeNull();
    expect(await files.existing([id, randomUUID()], 'acme')).toEqual(new Set([id]));
  });

  it('fills the durable result cache from a completed job, counts hits, and misses expired ones', async () => {
    const cache = new ResultCacheRepository(db);
    const tenant = `t-${randomUUID().slice(0, 6)}`;
    const done = newJob({ tenant, requestHash: 'req-1' });
    const stale = newJob({ tenant, requestHash: 'req-2' });
    await jobs.insertJobs([done, stale, newJob({ tenant, requestHash: 'req-3' })], []);
    await complete(done.id);
    await complete(stale.id, 3600);
    expect(await cache.lookup(tenant, 'req-1', 600)).toMatchObject({ jobId: done.id });
    expect(await cache.lookup(tenant, 'req-1', 600)).toMatchObject({ jobId: done.id });
    await cache.recordHit(tenant, 'req-1');
    expect(await cache.totalHits(tenant)).toBe(3);
    expect(await cache.lookup(tenant, 'req-2', 600)).toBeNull(); // completed an hour ago, TTL 10 min
    expect(await cache.lookup(tenant, 'req-3', 600)).toBeNull(); // not completed
    expect(await cache.lookup('someone-else', 'req-1', 600)).toBeNull();
    await cache.remove(tenant, 'req-1');
    expect(await cache.totalHits(tenant)).toBe(0);
  });

  it('counts active jobs up to a cap, finds by idempotency key and recent request hash', async () => {
    const tenant = `t-${randomUUID().slice(0, 6)}`;
    const keyed = newJob({ tenant, idempotencyKey: 'k1', requestHash: 'r1' });
    await jobs.insertJobs([keyed, ...Array.from({ length: 5 }, () => newJob({ tenant }))], []);
    expect(await queries.activeCounts([tenant, 'nobody'], 100)).toEqual(
      new Map([
        [tenant, 6],
        ['nobody', 0],
      ]),
    );
    expect((await queries.activeCounts([tenant], 4)).get(tenant)).toBe(4);
    expect((await queries.activeCounts([tenant], 3)).get(tenant)).toBe(3);
    expect((await queries.findByIdempotencyKey(tenant, 'k1'))?.id).toBe(keyed.id);
    expect((await queries.findByIdempotencyKeys(tenant, ['k1', 'k2'])).map((r) => r.id)).toEqual([keyed.id]);
    expect((await queries.findRecentByRequestHash(tenant, 'r1', 10000))?.id).toBe(keyed.id);
    expect(await queries.releaseExpiredIdempotencyKey(tenant, 'k1', 3600)).toBe(false); // still fresh
    expect(await queries.releaseExpiredIdempotencyKey(tenant, 'k1', 0)).toBe(true);
    expect(await queries.findByIdempotencyKey(tenant, 'k1')).toBeNull();
  });

  it('counts queued jobs ahead in start order, and buckets them by queue and priority', async () => {
    const queue = `q-${randomUUID().slice(0, 6)}`;
    const rows = [9, 5, 5, 2].map((priority) => newJob({ queue, priority }));
    for (const row of rows) await jobs.insertJobs([row], []);
    // created_at has millisecond precision: two inserts within one millisecond would tie (and the
    // tie goes by id). Submission order, made explicit: 1 s apart.
    await db.query(
      `UPDATE jobs j SET created_at = now() - interval '10 seconds' + o.n * interval '1 second'
       FROM unnest($1::uuid[]) WITH ORDINALITY AS o(id, n) WHERE j.id = o.id`,
      [rows.map((r) => r.id)],
    );
    const stored = await queries.findManyByIds(rows.map((r) => r.id));
    const byId = new Map(stored.map((r) => [r.id, r]));
    expect(await queries.queuedAhead(byId.get(rows[0].id)!)).toBe(0);
    expect(await queries.queuedAhead(byId.get(rows[2].id)!)).toBe(2);
    expect(await queries.queuedAhead(byId.get(rows[3].id)!)).toBe(3);
    const level = (await queries.queueLevels([queue])).get(queue);
    expect(level?.queuedByPriority).toEqual([0, 0, 1, 0, 0, 2, 0, 0, 0, 1]);
  });

  it('computes stats and purges old terminal jobs only', async () => {
    const tenant = `t-${randomUUID().slice(0, 6)}`;
    const old = newJob({ tenant });
    const recent = newJob({ tenant });
    const active = newJob({ tenant });
    await jobs.insertJobs([old, recent, active], []);
    await complete(old.id, 3 * 86400);
    await complete(recent.id);
    const stats = await queries.stats(tenant);
    expect(stats.byStatus).toEqual({ completed: 2, queued: 1 });
    expect(stats.byType).toEqual({ synthetic: { completed: 2, queued: 1 } });
    expect(stats.completedLastMinute).toBe(1);
    expect(stats.durationMs.count).toBe(1);
    expect(stats.durationMs.p50).toBeGreaterThanOrEqual(900);
    const { jobs: purged } = await new RetentionRepository(db).purgeJobs(2, 100);
    expect(purged.map((p) => p.id)).toEqual([old.id]);
    expect(await jobs.findById(old.id)).toBeNull();
    expect(await jobs.findById(recent.id)).not.toBeNull();
  });
});
