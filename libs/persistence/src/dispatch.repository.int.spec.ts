import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { amqpNames, JOB_DISPATCH } from '@switchyard/contracts';
import { createTestDatabase, waitFor, type TestDatabase } from '@switchyard/testing';
import { createDataSource, runMigrations } from './data-source';
import { JobsRepository } from './jobs.repository';
import { JobQueriesRepository } from './job-queries.repository';
import { LifecycleRepository } from './lifecycle.repository';
import { DispatchRepository, type ReleasedJob } from './dispatch.repository';
import { LimitsRepository } from './limits.repository';
import { newJob } from './jobs.testing';

const eventually = (check: () => boolean, timeoutMs = 5000) => waitFor(check, { timeoutMs, intervalMs: 20 });

describe('DispatchRepository against PostgreSQL', () => {
  let database: TestDatabase;
  let db: DataSource;
  let jobs: JobsRepository;
  let dispatch: DispatchRepository;
  let lifecycle: LifecycleRepository;
  // Every test uses its own queue, so the tests share one database.
  const queue = () => `q-${randomUUID().slice(0, 8)}`;

  /** Inserts jobs of `q` with the given priorities, created `agoMs[i]` ms ago (default: in order, 1 ms apart). */
  async function insert(q: string, priorities: number[], agoMs?: number[]): Promise<string[]> {
    const list = priorities.map((priority) => newJob({ queue: q, priority }));
    await jobs.insertJobs(list, []);
    await db.query(
      `UPDATE jobs SET created_at = now() - make_interval(secs => v.ago / 1000)
       FROM unnest($1::uuid[], $2::double precision[]) AS v(id, ago) WHERE jobs.id = v.id`,
      [list.map((j) => j.id), list.map((_, i) => agoMs?.[i] ?? (list.length - i) * 1)],
    );
    return list.map((j) => j.id);
  }

  /** One release with a window too large to bind: the jobs released. */
  const release = async (
    q: string,
    limit: number,
    agingMs: number,
    window = 1_000_000,
  ): Promise<ReleasedJob[]> => (await dispatch.releaseReady(q, limit, agingMs, window)).jobs;

  const row = async (id: string) =>
    (
      await db.query<
        {
          status: string;
          dispatched_at: Date | null;
          releases: number;
          released_attempt: number | null;
          event_seq: string;
          run_at: Date | null;
        }[]
      >(`SELECT * FROM jobs WHERE id = $1`, [id])
    )[0];

  beforeAll(async () => {
    database = await createTestDatabase(runMigrations);
    db = createDataSource(database.url, { poolSize: 8 });
    await db.initialize();
    jobs = new JobsRepository(db);
    dispatch = new DispatchRepository(db, 'test');
    lifecycle = new LifecycleRepository(db, amqpNames('sytest'), 'test');
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  describe('releaseReady', () => {
    it('releases by priority, then in submission order, and marks each release', async () => {
      const q = queue();
      const [low, high1, mid, high2] = await insert(q, [1, 7, 4, 7]);
      const released = await release(q, 10, 0);
      expect(released.map((j) => j.id)).toEqual([high1, high2, mid, low]);
      expect(released.map((j) => j.effectivePriority)).toEqual([7, 7, 4, 1]);
      expect(released[0]).toEqual<ReleasedJob>({
        id: high1,
        tenant: 'acme',
        type: 'synthetic',
        queue: q,
        correlationId: 'corr-1',
        effectivePriority: 7,
        attempt: 0,
        traceparent: null,
        tracestate: null,
      });
      for (const id of [low, high1, mid, high2]) {
        expect(await row(id)).toMatchObject({ status: 'queued', releases: 1, released_attempt: 0 });
        expect((await row(id)).dispatched_at).toBeInstanceOf(Date);
      }
      expect(await release(q, 10, 0)).toEqual([]);
    });

    it('ages a waiting job one level per interval, up to 9, equal effective priorities first come first', async () => {
      const q = queue();
      // agingMs 60 s: priority 0 waiting 10 min → 9 (capped); priority 2 waiting 3.5 min → 5;
      // priority 5 waiting 1 s → 5 (younger than the aged one: after it); priority 8 now → 8.
      const [old0, aged2, fresh5, fresh8] = await insert(q, [0, 2, 5, 8], [600000, 210000, 1000, 0]);
      const released = await release(q, 10, 60000);
      expect(released.map((j) => j.id)).toEqual([old0, fresh8, aged2, fresh5]);
      expect(released.map((j) => j.effectivePriority)).toEqual([9, 8, 5, 5]);
    });

    it('caps a long wait over a short interval at 9', async () => {
      const q = queue();
      const [ancient] = await insert(q, [0], [400 * 86400000]);
      expect(await release(q, 10, 1)).toEqual([
        expect.objectContaining({ id: ancient, effectivePriority: 9 }),
      ]);
    });

    it('does not age with agingMs 0', async () => {
      const q = queue();
      const [old0, fresh8] = await insert(q, [0, 8], [600000, 0]);
      expect((await release(q, 10, 0)).map((j) => j.id)).toEqual([fresh8, old0]);
    });

    it('releases at most `limit`, from its own queue only, the best first; releasedCounts counts the window', async () => {
      const q = queue();
      const other = queue();
      const ids = await insert(q, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9]);
      await insert(other, [9, 9]);
      const first = await release(q, 5, 0);
      expect(first.map((j) => j.id)).toEqual([ids[9], ids[10], ids[11], ids[8], ids[7]]);
      expect(await dispatch.releasedCounts([q, other, 'nothing-here'])).toEqual(
        new Map([
          [q, 5],
          [other, 0],
          ['nothing-here', 0],
        ]),
      );
      expect(await release(q, 0, 0)).toEqual([]);
      expect((await release(q, 4, 0)).map((j) => j.id)).toEqual([ids[6], ids[5], ids[4], ids[3]]);
      // A claim takes a job out of the window.
      await jobs.claimMany([ids[9], ids[10]], 'w1', 30000);
      expect((await dispatch.releasedCounts([q])).get(q)).toBe(7);
      expect((await dispatch.backlogQueues()).filter((name) => name === q || name === other)).toEqual(
        [q, other].sort(),
      );
      await release(q, 100, 0);
      expect(await dispatch.backlogQueues()).not.toContain(q);
    });

    it('keeps the window in the statement: releases at most window − released, and returns the count', async () => {
      const q = queue();
      const ids = await insert(q, [5, 5, 5, 5, 5, 5, 5, 5]);
      expect(await dispatch.releaseReady(q, 3, 0, 5)).toMatchObject({ released: 3 });
      // Asked for 10 with a window of 5: two more, whatever the caller believed.
      const second = await dispatch.releaseReady(q, 10, 0, 5);
      expect(second.jobs.map((j) => j.id)).toEqual([ids[3], ids[4]]);
      expect(second.released).toBe(5);
      expect(await dispatch.releaseReady(q, 10, 0, 5)).toEqual({ jobs: [], released: 5 });
      await jobs.claimMany([ids[0], ids[1]], 'w1', 30000);
      expect(await dispatch.releaseReady(q, 10, 0, 5)).toMatchObject({ released: 5 });
      expect((await dispatch.releasedCounts([q])).get(q)).toBe(5);
      // A smaller window than what is out releases nothing (and does not fail).
      expect(await dispatch.releaseReady(q, 10, 0, 2)).toEqual({ jobs: [], released: 5 });
    });

    it('never releases a job twice across concurrent callers on separate connections', async () => {
      const q = queue();
      const count = 1500;
      const ids = await insert(
        q,
        Array.from({ length: count }, (_, i) => i % 10),
        Array.from({ length: count }, (_, i) => (i % 7) * 1000),
      );
      const sources = await Promise.all(
        Array.from({ length: 4 }, async () => {
          const source = createDataSource(database.url, { poolSize: 2 });
          await source.initialize();
          return source;
        }),
      );
      try {
        const dispatchers = sources.map((s) => new DispatchRepository(s, 'test'));
        const seen: string[] = [];
        let rounds = 0;
        for (;;) {
          rounds++;
          const batches = await Promise.all(
            dispatchers.flatMap((d) => [
              d.releaseReady(q, 9, 2000, count),
              d.releaseReady(q, 13, 2000, count),
            ]),
          );
          const got = batches.flatMap((b) => b.jobs);
          if (!got.length) break;
          seen.push(...got.map((j) => j.id));
        }
        expect(rounds).toBeGreaterThan(5);
        expect(new Set(seen).size).toBe(seen.length);
        expect(new Set(seen)).toEqual(new Set(ids));
        const releases: { releases: number; n: string }[] = await db.query(
          `SELECT releases, count(*) AS n FROM jobs WHERE queue = $1 GROUP BY releases`,
          [q],
        );
        expect(releases).toEqual([{ releases: 1, n: String(count) }]);
      } finally {
        await Promise.all(sources.map((s) => s.destroy()));
      }
    });
  });

  describe('reReleaseStale', () => {
    it('releases again what stayed unclaimed too long, and nothing claimed or fresh', async () => {
      const q = queue();
      const [stale, claimed, fresh, backlog] = await insert(q, [5, 5, 5, 0]);
      await release(q, 3, 0);
      await jobs.claimMany([claimed], 'w1', 30000);
      await db.query(
        `UPDATE jobs SET dispatched_at = now() - interval '1 minute' WHERE id = ANY($1::uuid[])`,
        [[stale, claimed]],
      );
      const again = await dispatch.reReleaseStale(30000, 100, 0);
      const mine = again.filter((j) => j.queue === q);
      expect(mine.map((j) => j.id)).toEqual([stale]);
      expect(mine[0]).toMatchObject({ effectivePriority: 5, attempt: 0 });
      expect(await row(stale)).toMatchObject({ status: 'queued', releases: 2 });
      expect(Date.now() - (await row(stale)).dispatched_at!.getTime()).toBeLessThan(10000);
      expect(await row(fresh)).toMatchObject({ releases: 1 });
      expect(await row(backlog)).toMatchObject({ releases: 0, dispatched_at: null });
      expect((await dispatch.reReleaseStale(30000, 100, 0)).filter((j) => j.queue === q)).toEqual([]);
    });

    it('publishes a job released again with its effective priority (aging), not its own', async () => {
      const q = queue();
      const [id] = await insert(q, [2], [150000]);
      await release(q, 1, 0);
      await db.query(`UPDATE jobs SET dispatched_at = now() - interval '1 minute' WHERE id = $1`, [id]);
      const [again] = (await dispatch.reReleaseStale(30000, 100, 60000, [q])).filter((j) => j.id === id);
      // Waited 150 s at one level per 60 s: 2 + 2.
      expect(again).toMatchObject({ id, effectivePriority: 4 });
    });

    it('takes at most `limit`', async () => {
      const q = queue();
      const ids = await insert(q, [5, 5, 5]);
      await release(q, 3, 0);
      await db.query(`UPDATE jobs SET dispatched_at = now() - interval '1 hour' WHERE queue = $1`, [q]);
      expect(await dispatch.reReleaseStale(30000, 2, 0)).toHaveLength(2);
      expect((await dispatch.reReleaseStale(30000, 5, 0)).filter((j) => ids.includes(j.id))).toHaveLength(1);
    });
  });

  describe('scheduled jobs', () => {
    it('stores a delayed job as scheduled, lists it, counts it for quotas, and promotes it when due', async () => {
      const q = queue();
      const later = newJob({
        queue: q,
        tenant: 'sched',
        runAt: new Date(Date.now() + 3600000).toISOString(),
      });
      const soon = newJob({ queue: q, tenant: 'sched', runAt: new Date(Date.now() + 600000).toISOString() });
      const now = newJob({ queue: q, tenant: 'sched' });
      await jobs.insertJobs([later, soon, now], []);
      expect(await row(later.id)).toMatchObject({ status: 'scheduled', event_seq: '0', dispatched_at: null });
      expect((await row(later.id)).run_at?.toISOString()).toBe(later.runAt);
      expect(await row(now.id)).toMatchObject({ status: 'queued', event_seq: '1', run_at: null });

      const listed = await jobs.list({ tenant: 'sched', status: 'scheduled', limit: 10 });
      expect(listed.rows.map((r) => r.id).sort()).toEqual([later.id, soon.id].sort());
      const queries = new JobQueriesRepository(db);
      expect(await queries.scheduledCounts(['sched', 'nobody'], 100)).toEqual(
        new Map([
          ['sched', 2],
          ['nobody', 0],
        ]),
      );
      expect((await queries.activeCounts(['sched'], 100)).get('sched')).toBe(1);
      expect((await dispatch.nextRunAt())?.toISOString()).toBe(soon.runAt);

      // Not due yet: nothing moves, and the release never sees a scheduled job.
      expect((await dispatch.promoteDue(100)).queues).not.toContain(q);
      expect((await release(q, 10, 0)).map((j) => j.id)).toEqual([now.id]);

      await db.query(`UPDATE jobs SET run_at = now() - interval '1 second' WHERE id = $1`, [soon.id]);
      const promoted = await dispatch.promoteDue(100);
      expect(promoted.queues).toEqual([q]);
      expect(promoted.outbox).toHaveLength(1);
      expect(promoted.outbox[0]).toMatchObject({
        jobId: soon.id,
        name: 'switchyard.job.queued',
        payload: { data: { jobId: soon.id, status: 'queued', seq: 1, priority: soon.priority } },
      });
      expect(await row(soon.id)).toMatchObject({ status: 'queued', dispatched_at: null, event_seq: '1' });
      expect((await row(soon.id)).run_at).toBeInstanceOf(Date);
      expect((await dispatch.promoteDue(100)).outbox).toEqual([]);
      expect((await dispatch.nextRunAt())?.toISOString()).toBe(later.runAt);
      expect((await release(q, 10, 0)).map((j) => j.id)).toEqual([soon.id]);
    });

    it('promotes at most `limit` due jobs per call, earliest first', async () => {
      const q = queue();
      const list = [3, 1, 2].map((s) =>
        newJob({ queue: q, runAt: new Date(Date.now() + 3600000 + s * 1000).toISOString() }),
      );
      await jobs.insertJobs(list, []);
      await db.query(`UPDATE jobs SET run_at = run_at - interval '2 hours' WHERE id = ANY($1::uuid[])`, [
        list.map((j) => j.id),
      ]);
      const first = await dispatch.promoteDue(2);
      expect(first.outbox.map((m) => m.jobId)).toEqual(expect.arrayContaining([list[1].id, list[2].id]));
      expect(first.outbox).toHaveLength(2);
      expect((await dispatch.promoteDue(2)).outbox.map((m) => m.jobId)).toEqual([list[0].id]);
    });

    it('cancels a scheduled job, which is then never promoted', async () => {
      const q = queue();
      const job = newJob({ queue: q, runAt: new Date(Date.now() + 3600000).toISOString() });
      await jobs.insertJobs([job], []);
      const outcome = await lifecycle.cancel(job.id);
      expect(outcome.kind).toBe('cancelled');
      if (outcome.kind !== 'cancelled') return;
      expect(outcome.row).toMatchObject({ status: 'cancelled', event_seq: '1' });
      expect(outcome.outbox.map((m) => m.name)).toEqual(['switchyard.job.cancelled']);
      await db.query(`UPDATE jobs SET run_at = now() - interval '1 second' WHERE id = $1`, [job.id]);
      expect((await dispatch.promoteDue(100)).outbox.map((m) => m.jobId)).not.toContain(job.id);
      expect(await row(job.id)).toMatchObject({ status: 'cancelled' });
    });
  });

  describe('paths back into queued', () => {
    it('return the job to the backlog with no dispatch message: manual retry, hand-back, lease sweeper', async () => {
      const q = queue();
      const [retried, handedBack, swept] = await insert(q, [5, 5, 5]);
      await release(q, 10, 0);
      await jobs.claimMany([retried, handedBack, swept], 'w1', 30000);

      await jobs.finish(
        retried,
        'w1',
        { status: 'failed', error: { code: 'x', message: 'x', retryable: false }, deadLettered: true },
        { step: null, progress: 0, message: null },
      );
      const requeued = await lifecycle.requeue(retried, undefined);
      expect(requeued.kind).toBe('queued');
      if (requeued.kind === 'queued') {
        expect(requeued.outbox.map((m) => m.name)).toEqual(['switchyard.job.queued']);
      }

      expect(await jobs.handBack(handedBack, 'w1')).toMatchObject({ status: 'queued', dispatched_at: null });

      await db.query(`UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [swept]);
      const recovered = await lifecycle.recoverExpiredLeases();
      expect(recovered.rows.map((r) => r.id)).toContain(swept);
      expect(recovered.outbox.filter((m) => m.jobId === swept).map((m) => m.name)).toEqual([
        'switchyard.job.queued',
      ]);

      for (const id of [retried, handedBack, swept]) {
        expect(await row(id)).toMatchObject({ status: 'queued', dispatched_at: null });
      }
      const dispatchRows: { n: string }[] = await db.query(
        `SELECT count(*) AS n FROM outbox WHERE name = $1 AND job_id = ANY($2::uuid[])`,
        [JOB_DISPATCH, [retried, handedBack, swept]],
      );
      expect(dispatchRows[0].n).toBe('0');
      // Released again, each a second time.
      expect((await release(q, 10, 0)).map((j) => j.id).sort()).toEqual([retried, handedBack, swept].sort());
      for (const id of [retried, handedBack, swept]) expect(await row(id)).toMatchObject({ releases: 2 });
    });
  });

  describe('notifications', () => {
    it('tells listeners about claims, hand-backs, requeues, promotions, explicit notifies and settings', async () => {
      const q = queue();
      const heard: string[] = [];
      const claims: { queue: string; count: number }[] = [];
      let settings = 0;
      const stop = await dispatch.listen(
        (name, claimed) => {
          heard.push(name);
          if (claimed !== undefined && name === q) claims.push({ queue: name, count: claimed });
        },
        () => settings++,
      );
      try {
        const [a, b] = await insert(q, [5, 5]);
        await release(q, 10, 0);
        // Inserts and releases do not notify.
        await dispatch.notifyDispatch([`${q}-marker`]);
        await eventually(() => heard.includes(`${q}-marker`));
        expect(heard.filter((name) => name === q)).toEqual([]);

        await jobs.claimMany([a, b], 'w1', 30000);
        await eventually(() => heard.filter((name) => name === q).length === 1);
        // A claim says how many jobs it took out of the window.
        expect(claims).toEqual([{ queue: q, count: 2 }]);

        await jobs.handBack(a, 'w1');
        await eventually(() => heard.filter((name) => name === q).length === 2);

        await lifecycle.cancel(b);
        await lifecycle.finishCancelled(b, 'w1', { step: null, progress: 0, message: null });
        expect((await lifecycle.requeue(b, undefined)).kind).toBe('queued');
        await eventually(() => heard.filter((name) => name === q).length === 3);

        const scheduled = newJob({ queue: `${q}-s`, runAt: new Date(Date.now() + 3600000).toISOString() });
        await jobs.insertJobs([scheduled], []);
        await db.query(`UPDATE jobs SET run_at = now() WHERE id = $1`, [scheduled.id]);
        await dispatch.promoteDue(100);
        await eventually(() => heard.includes(`${q}-s`));

        await db.query(`SELECT pg_notify('switchyard_queue_settings', $1)`, [q]);
        await eventually(() => settings === 1);
      } finally {
        await stop();
      }
      const before = heard.length;
      await dispatch.notifyDispatch([q]);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(heard).toHaveLength(before);
    });

    it('listens again after its connection is killed', async () => {
      const heard: string[] = [];
      let settings = 0;
      const stop = await dispatch.listen(
        (name) => heard.push(name),
        () => settings++,
      );
      try {
        await db.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`,
        );
        // The reconnect reports a possibly missed settings change.
        await eventually(() => settings >= 1, 10000);
        await dispatch.notifyDispatch(['after-reconnect']);
        await eventually(() => heard.includes('after-reconnect'));
      } finally {
        await stop();
      }
    });
  });

  describe('releaseKeyed (per-key concurrency)', () => {
    const keyed = async (q: string, key: string, count: number, priority = 5): Promise<string[]> => {
      const list = Array.from({ length: count }, () => newJob({ queue: q, priority, concurrencyKey: key }));
      await jobs.insertJobs(list, []);
      return list.map((j) => j.id);
    };

    it('leaves keyed jobs out of the unkeyed release and lists their queue as keyed backlog', async () => {
      const q = queue();
      const [plain] = await insert(q, [5]);
      await keyed(q, `k-${q}`, 2);
      expect((await release(q, 10, 0)).map((j) => j.id)).toEqual([plain]);
      expect(await dispatch.keyedBacklogQueues()).toContain(q);
      expect(await dispatch.backlogQueues()).not.toContain(q);
    });

    it('never lets more than max jobs of a key be released or running, even with concurrent releases', async () => {
      const q = queue();
      const key = `gpu-${q}`;
      const limits = new LimitsRepository(db);
      await limits.setConcurrency(key, 2);
      const ids = await keyed(q, key, 12);
      // An unlimited key of the same queue is released in full.
      const free = await keyed(q, `free-${q}`, 3);
      const results = await Promise.all(
        Array.from({ length: 6 }, () => dispatch.releaseKeyed(q, 100, 0, 1_000_000)),
      );
      const out = results.flatMap((r) => r.jobs.map((j) => j.id));
      expect(out.filter((id) => ids.includes(id))).toHaveLength(2);
      expect(out.filter((id) => free.includes(id)).sort()).toEqual([...free].sort());
      // In submission order within the key.
      expect(out.filter((id) => ids.includes(id)).sort()).toEqual(ids.slice(0, 2).sort());
      expect(await limits.concurrency(key)).toEqual({ key, max: 2, inUse: 2, waiting: 10 });
      // Claimed (running) jobs still hold their slots; a finished one frees it.
      const claimed = await jobs.claimMany(ids.slice(0, 2), 'w1', 30000);
      expect(claimed.every(Boolean)).toBe(true);
      expect((await dispatch.releaseKeyed(q, 100, 0, 1_000_000)).jobs).toEqual([]);
      await jobs.completeMany('w1', [
        { jobId: ids[0], result: null, resultUrl: null, last: { step: null, message: null } },
      ]);
      expect((await dispatch.releaseKeyed(q, 100, 0, 1_000_000)).jobs.map((j) => j.id)).toEqual([ids[2]]);
      // A raised limit releases more at once; the window (4 released unclaimed: ids[2] and the
      // free key's 3) still binds.
      await limits.setConcurrency(key, 10);
      const windowed = await dispatch.releaseKeyed(q, 100, 0, 7);
      expect(windowed.jobs).toHaveLength(3);
      expect(windowed.released).toBe(7);
    });

    it('reports no keyed backlog once it is released', async () => {
      const q = queue();
      await keyed(q, `solo-${q}`, 1);
      expect((await dispatch.releaseKeyed(q, 10, 0, 100)).keyed).toBe(true);
      expect((await dispatch.releaseKeyed(q, 10, 0, 100)).keyed).toBe(false);
    });
  });

  describe('fair share between tenants', () => {
    const submit = async (q: string, tenant: string, count: number, priority = 5): Promise<string[]> => {
      const list = Array.from({ length: count }, () => newJob({ queue: q, tenant, priority }));
      await jobs.insertJobs(list, []);
      return list.map((j) => j.id);
    };

    it('interleaves tenants with backlog by weight within an effective priority, highest priority first', async () => {
      const q = queue();
      const a = await submit(q, `a-${q}`, 10);
      const b = await submit(q, `b-${q}`, 10);
      const urgent = await submit(q, `a-${q}`, 1, 7);
      const tenantOf = (id: string) => (a.includes(id) || urgent.includes(id) ? 'A' : 'B');
      expect(b).toHaveLength(10);
      const first = await release(q, 5, 0);
      // Priority first, then turns: A (older at equal share), B, A, B.
      expect(first.map((j) => j.id)[0]).toBe(urgent[0]);
      expect(first.slice(1).map((j) => tenantOf(j.id))).toEqual(['B', 'A', 'B', 'A']);
      // What each tenant holds counts: A holds 3 released, B 2, so B goes first now.
      expect((await release(q, 2, 0)).map((j) => tenantOf(j.id))).toEqual(['B', 'A']);
    });

    it('lean statement (one tenant last time): releases one tenant’s jobs, and nothing once it meets a second tenant', async () => {
      const q = queue();
      const a = await submit(q, `a-${q}`, 3);
      const alone = await dispatch.releaseReady(q, 10, 0, 1_000_000, false);
      expect(alone.jobs.map((j) => j.id).sort()).toEqual([...a].sort());
      expect(alone.tenants).toBe(1);
      await submit(q, `a-${q}`, 3);
      // A newcomer whose job outranks the first tenant's: the lean statement must not release
      // the first tenant's jobs ahead of it.
      await submit(q, `b-${q}`, 1, 9);
      const met = await dispatch.releaseReady(q, 10, 0, 1_000_000, false);
      expect(met).toMatchObject({ jobs: [], tenants: 2 });
      const fair = await dispatch.releaseReady(q, 10, 0, 1_000_000, true);
      expect(fair.jobs.map((j) => j.effectivePriority)).toEqual([9, 5, 5, 5]);
    });

    it('a fair release that meets one tenant releases its jobs without the pairs statement, and says so', async () => {
      const q = queue();
      // Created 1 ms apart (one insert's jobs share created_at, and then id orders them).
      const a = await insert(q, [5, 5, 5, 5, 5]);
      await db.query(`UPDATE jobs SET tenant = $2 WHERE id = ANY($1::uuid[])`, [a, `a-${q}`]);
      const got = await dispatch.releaseReady(q, 3, 0, 1_000_000, true, { after: `z-${q}` });
      expect(got).toMatchObject({ tenants: 1 });
      expect(got.pairs).toBeUndefined();
      expect(got.jobs.map((j) => j.id)).toEqual(a.slice(0, 3));
    });

    it('with many tenants (most pairs read by their first job alone), releases full batches and never ahead of a higher effective priority', async () => {
      const q = queue();
      // 30 tenants, priorities 0–9, created 30 s, 1.5 min, … 4.5 min ago, aging one level a minute:
      // the pairs' first jobs and the jobs behind them differ in effective priority, and no job
      // reaches its next level while the test runs (ages sit mid-interval, 30 s from either end).
      let seed = 7;
      const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
      const list = Array.from({ length: 600 }, () =>
        newJob({
          queue: q,
          tenant: `t${Math.floor(random() * 30)}-${q}`,
          priority: Math.floor(random() * 10),
        }),
      );
      await jobs.insertJobs(list, []);
      await db.query(
        `UPDATE jobs SET created_at = now() - make_interval(secs => v.ago) FROM unnest($1::uuid[], $2::float8[]) AS v(id, ago)
         WHERE jobs.id = v.id`,
        [list.map((j) => j.id), list.map(() => Math.floor(random() * 5) * 60 + 30)],
      );
      const agingMs = 60_000;
      const effective = (alias: string) =>
        `LEAST(9, ${alias}.priority + LEAST(9, floor(extract(epoch FROM now() - ${alias}.created_at) * 1000 / ${agingMs})))::int`;
      for (let left = list.length; left > 0;) {
        const batch = await dispatch.releaseReady(q, 7, agingMs, 1_000_000, true);
        expect(batch.jobs).toHaveLength(Math.min(7, left));
        left -= batch.jobs.length;
        const lowest = Math.min(...batch.jobs.map((j) => j.effectivePriority));
        const [behind] = await db.query<{ best: number | null }[]>(
          `SELECT max(${effective('j')}) AS best FROM jobs j WHERE j.queue = $1 AND j.dispatched_at IS NULL`,
          [q],
        );
        // Nothing left behind outranks what was released.
        expect(behind?.best ?? -1).toBeLessThanOrEqual(lowest);
      }
    });

    it.each([
      { tenantCount: 12, jobCount: 400, levels: 4, ages: 3, weighted: true, pairs: false },
      { tenantCount: 12, jobCount: 400, levels: 4, ages: 3, weighted: true, pairs: true },
      { tenantCount: 4, jobCount: 300, levels: 7, ages: 6, weighted: true, pairs: false },
      { tenantCount: 4, jobCount: 300, levels: 7, ages: 6, weighted: true, pairs: true },
      { tenantCount: 40, jobCount: 1200, levels: 2, ages: 2, weighted: false, pairs: false },
      { tenantCount: 40, jobCount: 1200, levels: 2, ages: 2, weighted: true, pairs: false },
      // Batches larger than the tenants, backlogs of very different sizes (tenants run out of jobs
      // at the cut within a batch): the pairs statement's water level, its second round over the
      // tenants that did not run out, and its last round.
      {
        tenantCount: 20,
        jobCount: 500,
        levels: 1,
        ages: 1,
        weighted: false,
        pairs: true,
        maxLimit: 60,
        skew: 3,
      },
      {
        tenantCount: 9,
        jobCount: 400,
        levels: 1,
        ages: 2,
        weighted: false,
        pairs: true,
        maxLimit: 40,
        skew: 4,
      },
      {
        tenantCount: 20,
        jobCount: 500,
        levels: 2,
        ages: 2,
        weighted: true,
        pairs: true,
        maxLimit: 60,
        skew: 3,
      },
    ])(
      'releases exactly what the rule says: effective priority, then (used + rank) / weight, then turns from the last tenant ($tenantCount tenants, weights: $weighted, pairs statement only: $pairs)',
      async ({ tenantCount, jobCount, levels, ages, weighted, pairs, maxLimit = 12, skew = 1 }) => {
        const q = queue();
        let seed = 11 + tenantCount;
        const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
        const tenants = Array.from({ length: tenantCount }, (_, i) => `w${String(i).padStart(2, '0')}-${q}`);
        for (const [i, tenant] of tenants.entries()) {
          // Weights 2 and 3 for two tenants in three (one in eight of 40: the turns statement reads
          // every weighted tenant, at most TURN_WEIGHTED in all).
          if (weighted && i % 3 && (tenantCount < 40 || i % 8 === 1))
            await db.query(`INSERT INTO tenant_weights (tenant, weight) VALUES ($1, $2)`, [
              tenant,
              1 + (i % 3),
            ]);
        }
        const list = Array.from({ length: jobCount }, () =>
          newJob({
            queue: q,
            tenant: tenants[Math.floor(random() ** skew * tenantCount)],
            priority: Math.floor(random() * levels) + 2,
          }),
        );
        await jobs.insertJobs(list, []);
        // Ages 30 s, 1.5 min, 2.5 min … (mid-interval, 30 s from either end, so that no job ages a
        // level while the test runs) with aging per minute: effective priorities mix the levels.
        await db.query(
          `UPDATE jobs SET created_at = now() - make_interval(secs => v.ago) FROM unnest($1::uuid[], $2::float8[]) AS v(id, ago)
         WHERE jobs.id = v.id`,
          // Every job its own created_at (ties in created_at are ordered by id only in the final
          // order; the rule's tie-break is not what this test is about).
          [list.map((j) => j.id), list.map((_, i) => Math.floor(random() * ages) * 60 + 30 + i / 1000)],
        );
        const agingMs = 60_000;
        let after = '';
        let byTurns = 0;
        for (let round = 0; round < 60; round++) {
          const limit = 1 + Math.floor(random() * maxLimit);
          const state = await db.query<
            {
              id: string;
              tenant: string;
              at: number;
              effective: number;
              used: boolean;
              weight: number;
            }[]
          >(
            // created_at in microseconds, as PostgreSQL orders it (a Date keeps milliseconds).
            `SELECT j.id, j.tenant, (extract(epoch FROM j.created_at) * 1000000)::float8 AS at,
               j.status = 'running' OR j.dispatched_at IS NOT NULL AS used,
             LEAST(9, j.priority + LEAST(9, floor(extract(epoch FROM now() - j.created_at) * 1000 / ${agingMs})))::int AS effective,
             coalesce(w.weight, 1) AS weight
           FROM jobs j LEFT JOIN tenant_weights w ON w.tenant = j.tenant
           WHERE j.queue = $1 AND j.status IN ('queued', 'running')`,
            [q],
          );
          // The rule, by brute force over the whole backlog.
          const used = new Map<string, number>();
          for (const r of state) if (r.used) used.set(r.tenant, (used.get(r.tenant) ?? 0) + 1);
          const waiting = state.filter((r) => !r.used);
          const byTime = (a: (typeof waiting)[0], b: (typeof waiting)[0]) =>
            a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
          const share = new Map<string, number>();
          for (const tenant of new Set(waiting.map((r) => r.tenant))) {
            const own = waiting
              .filter((r) => r.tenant === tenant)
              .sort((a, b) => b.effective - a.effective || byTime(a, b));
            own.forEach((r, k) => share.set(r.id, ((used.get(tenant) ?? 0) + k + 1) / r.weight));
          }
          // Turns: tenants after `after` in name order first, then round the end to the start.
          const turn = (tenant: string) => (tenant <= after ? 1 : 0);
          const byTurn = (a: (typeof waiting)[0], b: (typeof waiting)[0]) =>
            turn(a.tenant) - turn(b.tenant) || (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0);
          const expected = waiting
            .sort(
              (a, b) =>
                b.effective - a.effective ||
                share.get(a.id)! - share.get(b.id)! ||
                byTurn(a, b) ||
                byTime(a, b),
            )
            .slice(0, limit)
            .map((r) => r.id);
          const got = await dispatch.releaseReady(q, limit, agingMs, 1_000_000, true, { after, pairs });
          expect(got.jobs.map((j) => j.id)).toEqual(expected);
          if (!got.pairs) byTurns++;
          if (!expected.length) break;
          after = got.jobs.at(-1)!.tenant;
          // Workers: about half of what is in use finishes, a quarter starts running.
          await db.query(
            `UPDATE jobs SET status = CASE WHEN v.r < 0.5 THEN 'completed' ELSE 'running' END
             FROM unnest($1::uuid[], $2::float8[]) AS v(id, r)
             WHERE jobs.id = v.id AND v.r < 0.75`,
            [state.filter((r) => r.used).map((r) => r.id), state.filter((r) => r.used).map(() => random())],
          );
        }
        // The turns statement answered most releases where tenants are many and hold little.
        if (pairs) expect(byTurns).toBe(0);
        else if (tenantCount >= 40) expect(byTurns).toBeGreaterThan(30);
        // Weights are global: other tests must not meet these.
        await db.query(`DELETE FROM tenant_weights WHERE tenant = ANY ($1::text[])`, [tenants]);
      },
    );

    it('reads a pair past the jobs it releases anyway (above the cut) to find those at the cut', async () => {
      const q = queue();
      // Aging per 10 s. A's level 5: two jobs 15 s old (effective 6), then five 5 s old (5);
      // B: one job of level 6. The best four: three at 6 (sure), the fourth at the cut (5) is A's
      // third job, behind its two sure ones in the same (priority, tenant) pair.
      const a = await insert(q, [5, 5, 5, 5, 5, 5, 5], [15_500, 15_400, 5_500, 5_400, 5_300, 5_200, 5_100]);
      await db.query(`UPDATE jobs SET tenant = $2 WHERE id = ANY($1::uuid[])`, [a, `a-${q}`]);
      const [b] = await insert(q, [6], [5_000]);
      await db.query(`UPDATE jobs SET tenant = $2 WHERE id = $1`, [b, `b-${q}`]);
      const got = await dispatch.releaseReady(q, 4, 10_000, 1_000_000, true);
      expect(got.jobs.map((j) => j.id)).toEqual([a[0], b, a[1], a[2]]);
      expect(got.jobs.map((j) => j.effectivePriority)).toEqual([6, 6, 6, 5]);
    });

    it('gives a tenant of weight 3 three releases per release of a tenant of weight 1', async () => {
      const q = queue();
      const a = await submit(q, `a-${q}`, 20);
      await submit(q, `b-${q}`, 20);
      await db.query(`INSERT INTO tenant_weights (tenant, weight) VALUES ($1, 3)`, [`b-${q}`]);
      const tenants = (await release(q, 8, 0)).map((j) => (a.includes(j.id) ? 'A' : 'B'));
      // Shares (held + rank) / weight: B 1/3, 2/3, A 1 (older than B's 1), B 1, 4/3, 5/3, A 2, B 2.
      expect(tenants).toEqual(['B', 'B', 'A', 'B', 'B', 'B', 'A', 'B']);
    });
  });
});
