import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { amqpNames } from '@switchyard/contracts';
import { createTestDatabase, type TestDatabase } from '@switchyard/testing';
import { createDataSource, runMigrations } from './data-source';
import { JobsRepository, type NewJob } from './jobs.repository';
import { LifecycleRepository } from './lifecycle.repository';

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
    requestHash: '',
    payload: { durationMs: 0 },
    metadata: {},
    ...overrides,
  };
}

/** The queues the broker reports with no ready message (the reconciler asks RabbitMQ). */
const DRAINED = ['default'];

describe('LifecycleRepository.redispatchOrphanedQueued (the reconciler) against PostgreSQL', () => {
  let database: TestDatabase;
  let db: DataSource;
  let jobs: JobsRepository;
  let lifecycle: LifecycleRepository;

  beforeAll(async () => {
    database = await createTestDatabase(runMigrations);
    db = createDataSource(database.url, { poolSize: 4 });
    await db.initialize();
    jobs = new JobsRepository(db);
    lifecycle = new LifecycleRepository(db, amqpNames('sytest'), 'progress-tracker');
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  beforeEach(() => db.query(`TRUNCATE jobs, outbox CASCADE`));

  /** Inserts queued jobs whose dispatch was `ageMs` ago. */
  async function queued(ageMs: number, overrides: Partial<NewJob> = {}, count = 1): Promise<string[]> {
    const rows = Array.from({ length: count }, () => newJob(overrides));
    await jobs.insertJobs(rows, []);
    const ids = rows.map((r) => r.id);
    await db.query(
      `UPDATE jobs SET dispatched_at = now() - make_interval(secs => $2::double precision / 1000)
       WHERE id = ANY($1::uuid[])`,
      [ids, ageMs],
    );
    return ids;
  }

  async function running(id: string): Promise<void> {
    const [claimed] = await jobs.claimMany([id], 'w-1', 60000);
    expect(claimed?.status).toBe('running');
  }

  it('re-dispatches a queued job of an idle queue once its last dispatch is older than the threshold, once', async () => {
    const [lost] = await queued(60000);
    const [fresh] = await queued(1000);
    const first = await lifecycle.redispatchOrphanedQueued(30000, DRAINED);
    expect(first.rows.map((r) => r.id)).toEqual([lost]);
    expect(first.outbox).toHaveLength(1);
    expect(first.outbox[0].payload).toMatchObject({ jobId: lost });
    expect(fresh).toBeDefined();
    // Its dispatch is now fresh: the next pass leaves it alone.
    expect((await lifecycle.redispatchOrphanedQueued(30000, DRAINED)).rows).toEqual([]);
  });

  it('leaves an idle queue alone while the broker still holds ready messages for it (no worker yet)', async () => {
    const ids = await queued(60000, {}, 3);
    expect((await lifecycle.redispatchOrphanedQueued(30000, [])).rows).toEqual([]);
    // Once the broker reports the queue drained, the jobs are orphaned and repaired.
    const repaired = await lifecycle.redispatchOrphanedQueued(30000, DRAINED);
    expect(repaired.rows.map((r) => r.id).sort()).toEqual([...ids].sort());
  });

  it('lists the queues that have queued jobs, each once', async () => {
    await queued(1000, { queue: 'audio' }, 2);
    await queued(1000, {}, 2);
    expect(await lifecycle.queuedQueues()).toEqual(['audio', 'default']);
  });

  it('leaves a backlog waiting behind running work of higher priority, but repairs one a later job passed over', async () => {
    const [waiting] = await queued(60000, { priority: 2 });
    const [urgent] = await queued(1000, { priority: 9 });
    await running(urgent);
    // Only higher-priority work is running: the backlog is simply waiting its turn.
    expect((await lifecycle.redispatchOrphanedQueued(30000, DRAINED)).rows).toEqual([]);

    const [skipped] = await queued(60000, { priority: 5 });
    const [later] = await queued(1000, { priority: 5 });
    await running(later);
    // A job of the same priority, dispatched after it, is running: its message was lost. The
    // priority-2 job still waits behind running work of higher priority.
    const repaired = await lifecycle.redispatchOrphanedQueued(30000, DRAINED);
    expect(repaired.rows.map((r) => r.id)).toEqual([skipped]);
    expect(waiting).toBeDefined();
  });

  it('works in bounded batches and never touches a job that is no longer queued', async () => {
    await queued(60000, {}, 7);
    const first = await lifecycle.redispatchOrphanedQueued(30000, DRAINED, 5);
    expect(first.rows).toHaveLength(5);
    const second = await lifecycle.redispatchOrphanedQueued(30000, DRAINED, 5);
    expect(second.rows).toHaveLength(2);
    const [done] = await queued(60000);
    await db.query(`UPDATE jobs SET status = 'cancelled', finished_at = now() WHERE id = $1`, [done]);
    expect((await lifecycle.redispatchOrphanedQueued(30000, DRAINED)).rows).toEqual([]);
  });
});
