import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '@switchyard/testing';
import { createDataSource, runMigrations } from './data-source';
import { JobsRepository, type NewJob } from './jobs.repository';
import { JobQueriesRepository } from './job-queries.repository';
import { DispatchRepository } from './dispatch.repository';
import { LimitsRepository } from './limits.repository';
import { newJob } from './jobs.testing';

/** Provider rate budgets (issue #16): the rated release, its token buckets and the 429 holds. */
describe('rate budgets against PostgreSQL', () => {
  let database: TestDatabase;
  let db: DataSource;
  let jobs: JobsRepository;
  let dispatch: DispatchRepository;
  let limits: LimitsRepository;
  // Every test uses its own queue and keys, so the tests share one database.
  const queue = () => `q-${randomUUID().slice(0, 8)}`;

  const rated = async (
    q: string,
    key: string,
    count: number,
    extra: Partial<NewJob> = {},
  ): Promise<string[]> => {
    const list = Array.from({ length: count }, () => newJob({ queue: q, rateKey: key, ...extra }));
    await jobs.insertJobs(list, []);
    // One insert shares one created_at: 1 ms apart, so submission order is the list's.
    await db.query(
      `UPDATE jobs SET created_at = now() - make_interval(secs => v.ago / 1000)
       FROM unnest($1::uuid[], $2::double precision[]) AS v(id, ago) WHERE jobs.id = v.id`,
      [list.map((j) => j.id), list.map((_, i) => list.length - i)],
    );
    return list.map((j) => j.id);
  };
  const releaseRated = async (q: string, limit = 100, window = 1_000_000) =>
    (await dispatch.releaseRated(q, limit, 0, window)).jobs.map((j) => j.id);
  /** Moves a key's bucket `ms` into the past, as if that long had passed since its last release. */
  const age = (key: string, ms: number) =>
    db.query(
      `UPDATE rate_buckets SET refilled_at = refilled_at - make_interval(secs => $2::double precision / 1000)
       WHERE key = $1`,
      [key, ms],
    );

  beforeAll(async () => {
    database = await createTestDatabase(runMigrations);
    db = createDataSource(database.url, { poolSize: 8 });
    await db.initialize();
    jobs = new JobsRepository(db);
    dispatch = new DispatchRepository(db, 'test');
    limits = new LimitsRepository(db);
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  it('leaves rated jobs out of the main release; a key without a budget is released freely by the rated pass', async () => {
    const q = queue();
    const [plain] = (await jobs.insertJobs([newJob({ queue: q })], [])).rows.map((r) => r.id);
    const ids = await rated(q, `free-${q}`, 3);
    expect((await dispatch.releaseReady(q, 10, 0, 1_000_000)).jobs.map((j) => j.id)).toEqual([plain]);
    expect(await dispatch.backlogQueues()).not.toContain(q);
    expect(await dispatch.ratedBacklogQueues()).toContain(q);
    // Counted in the queue's backlog like any other queued job.
    expect((await new JobQueriesRepository(db).queueLevels([q])).get(q)?.backlog).toBe(3);
    expect((await releaseRated(q)).sort()).toEqual([...ids].sort());
    expect(await dispatch.ratedBacklogQueues()).not.toContain(q);
    expect((await dispatch.releaseRated(q, 10, 0, 100)).rated).toBe(false);
  });

  it('releases at most the tokens of a key’s bucket across concurrent releases, and the refill later', async () => {
    const q = queue();
    const key = `provider:${q}`;
    await limits.setRate(key, 60, 3);
    const ids = await rated(q, key, 12);
    const other = await rated(q, `other-${q}`, 2);
    const results = await Promise.all(Array.from({ length: 6 }, () => releaseRated(q)));
    const out = results.flat();
    // The burst: 3 of the key (oldest first), and the key without a budget in full.
    expect(out.filter((id) => ids.includes(id)).sort()).toEqual(ids.slice(0, 3).sort());
    expect(out.filter((id) => other.includes(id)).sort()).toEqual([...other].sort());
    expect(await releaseRated(q)).toEqual([]);
    const empty = await limits.rate(key);
    expect(empty).toMatchObject({ key, perMinute: 60, burst: 3, heldUntil: null, waiting: 9 });
    expect(empty.tokens).toBeLessThan(1);
    expect(await limits.rateHeld(key)).toBe(true);
    // Two seconds at 60 a minute: two tokens.
    await age(key, 2000);
    expect(await releaseRated(q)).toEqual(ids.slice(3, 5));
    // The window still binds (7 released and unclaimed: room for 2 of the 3 tokens), and never
    // more than the burst however long the key waited.
    await age(key, 3_600_000);
    expect(await releaseRated(q, 100, 9)).toEqual(ids.slice(5, 7));
    expect(await releaseRated(q)).toEqual([ids[7]]);
    await age(key, 3_600_000);
    expect(await releaseRated(q)).toEqual(ids.slice(8, 11));
    // A budget of 0 holds everything.
    await limits.setRate(key, 0, 1);
    await age(key, 3_600_000);
    expect(await releaseRated(q)).toEqual([]);
    expect(await limits.deleteRate(key)).toBe(true);
    expect(await limits.deleteRate(key)).toBe(false);
    expect(await releaseRated(q)).toEqual([ids[11]]);
  });

  it('never releases more than perMinute of a key in any 60 s, burst included, however full its bucket', async () => {
    const q = queue();
    const key = `provider:${q}`;
    await limits.setRate(key, 30, 30);
    const ids = await rated(q, key, 50);
    expect(await releaseRated(q)).toEqual(ids.slice(0, 30));
    /** Moves the release time of `released` jobs `seconds` into the past. */
    const releasedAgo = (released: string[], seconds: number) =>
      db.query(
        `UPDATE jobs SET dispatched_at = now() - make_interval(secs => $2) WHERE id = ANY($1::uuid[])`,
        [released, seconds],
      );
    // A full bucket again, but the 30 went out within the last minute.
    await age(key, 3_600_000);
    await releasedAgo(ids.slice(0, 30), 45);
    expect(await releaseRated(q)).toEqual([]);
    // A third of them left the last minute: room for ten.
    await releasedAgo(ids.slice(0, 10), 61);
    expect(await releaseRated(q)).toEqual(ids.slice(30, 40));
    await age(key, 3_600_000);
    await releasedAgo(ids.slice(0, 40), 61);
    expect(await releaseRated(q)).toEqual(ids.slice(40, 50));
  });

  it('holds a key fleet-wide after a 429: the job goes back without spending an attempt, nothing is released until the hold ends', async () => {
    const q = queue();
    const key = `provider:${q}`;
    const ids = await rated(q, key, 3);
    const free = await rated(q, `free-${q}`, 1);
    const [first] = await dispatch.releaseRated(q, 1, 0, 1_000_000).then((r) => r.jobs.map((j) => j.id));
    expect(first).toBe(ids[0]);
    const [claimed] = await jobs.claimMany([ids[0]], 'w1', 30000);
    expect(claimed?.attempts).toBe(1);
    const returned = await jobs.handBackRateLimited(ids[0], 'w1', 3000);
    expect(returned).toMatchObject({ status: 'queued', attempts: 0, dispatched_at: null, rate_key: key });
    const view = await limits.rate(key);
    expect(view.heldUntil).not.toBeNull();
    const heldFor = (view.heldUntil?.getTime() ?? 0) - Date.now();
    expect(heldFor).toBeGreaterThan(1500);
    expect(heldFor).toBeLessThan(4500);
    expect(view.perMinute).toBeNull();
    expect(await limits.rateHeld(key)).toBe(true);
    expect((await limits.listRate()).find((r) => r.key === key)).toMatchObject({ waiting: 3 });
    // A shorter hold after it (the job running again, as if released and claimed) does not shorten
    // it; each counts.
    await db.query(`UPDATE jobs SET status = 'running', lease_owner = 'w1' WHERE id = $1`, [ids[0]]);
    await jobs.handBackRateLimited(ids[0], 'w1', 10);
    expect((await limits.rate(key)).heldUntil?.getTime()).toBe(view.heldUntil?.getTime());
    expect((await limits.rateHolds()).find((h) => h.key === key)).toEqual({ key, holds: 2 });
    // Held: only the other key is released.
    expect(await releaseRated(q)).toEqual(free);
    // The hold ends: the key's jobs go again, the one handed back with them.
    await db.query(`UPDATE rate_buckets SET held_until = now() - interval '1 second' WHERE key = $1`, [key]);
    expect(await limits.rateHeld(key)).toBe(false);
    expect((await releaseRated(q)).sort()).toEqual([...ids].sort());
  });

  it('does not hand back a job without a rate key, nor one that is no longer the worker’s', async () => {
    const q = queue();
    const [plain] = (await jobs.insertJobs([newJob({ queue: q })], [])).rows.map((r) => r.id);
    await dispatch.releaseReady(q, 10, 0, 1_000_000);
    await jobs.claimMany([plain], 'w1', 30000);
    expect(await jobs.handBackRateLimited(plain, 'w1', 1000)).toBeNull();
    const [keyed] = await rated(q, `k-${q}`, 1);
    await releaseRated(q);
    await jobs.claimMany([keyed], 'w1', 30000);
    expect(await jobs.handBackRateLimited(keyed, 'w2', 1000)).toBeNull();
    expect((await limits.rate(`k-${q}`)).heldUntil).toBeNull();
    const rows: { status: string }[] = await db.query(`SELECT status FROM jobs WHERE id = ANY($1::uuid[])`, [
      [plain, keyed],
    ]);
    expect(rows.map((r) => r.status)).toEqual(['running', 'running']);
  });
});
