import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '@switchyard/testing';
import { createDataSource, runMigrations } from './data-source';
import { FlowsRepository } from './flows.repository';
import { JobsRepository, type NewJob } from './jobs.repository';
import { LifecycleRepository } from './lifecycle.repository';
import { amqpNames } from '@switchyard/contracts';
import { newJob } from './jobs.testing';

function flowJob(overrides: Partial<NewJob> = {}): NewJob {
  return newJob({ queue: `flows-${randomUUID().slice(0, 8)}`, maxAttempts: 1, ...overrides });
}

const last = { step: null, message: null };

describe('flows: dependants settled inside terminal transitions (PostgreSQL)', () => {
  let database: TestDatabase;
  let db: DataSource;
  let jobs: JobsRepository;
  let flows: FlowsRepository;
  let lifecycle: LifecycleRepository;

  beforeAll(async () => {
    database = await createTestDatabase(async (url) => {
      await runMigrations(url);
    });
    db = createDataSource(database.url, { poolSize: 8 });
    await db.initialize();
    jobs = new JobsRepository(db);
    flows = new FlowsRepository(db, 'test');
    lifecycle = new LifecycleRepository(db, amqpNames('switchyard'), 'test');
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  /** A flow `deps → d` (d depends on every dep); the deps claimed by their own workers. */
  async function fanIn(width: number, rule: 'fail' | 'run' | 'skip' = 'fail') {
    const flowId = randomUUID();
    const queue = `flows-${randomUUID().slice(0, 8)}`;
    const deps = Array.from({ length: width }, (_, i) => flowJob({ queue, flowId, ref: `dep${i}` }));
    const d = flowJob({ queue, flowId, ref: 'd', pendingDeps: width, onDependencyFailure: rule });
    await flows.create(
      {
        id: flowId,
        tenant: 'acme',
        name: null,
        metadata: {},
        idempotencyKey: null,
        requestHash: '',
        correlationId: 'c',
      },
      [...deps, d],
      deps.map((dep) => ({ jobId: d.id, dependsOn: dep.id })),
      [],
    );
    for (const [i, dep] of deps.entries()) {
      expect(await jobs.claimMany([dep.id], `w${i}`, 60000)).toEqual([
        expect.objectContaining({ id: dep.id }),
      ]);
    }
    return { flowId, deps, d };
  }

  const statusOf = async (id: string) =>
    (
      await db.query<{ status: string; pending_deps: number; error: { code: string } | null }[]>(
        `SELECT status, pending_deps, error, event_seq FROM jobs WHERE id = $1`,
        [id],
      )
    )[0];

  it('stores a job with unfinished dependencies as waiting, with no event (seq 0)', async () => {
    const { d } = await fanIn(2);
    expect(await statusOf(d.id)).toMatchObject({ status: 'waiting', pending_deps: 2, event_seq: '0' });
  });

  it('queues the dependant exactly once when its dependencies complete at the same moment', async () => {
    for (let round = 0; round < 10; round++) {
      const { deps, d } = await fanIn(4);
      const outcomes = await Promise.all(
        deps.map((dep, i) =>
          jobs.completeFlowMany(`w${i}`, [{ jobId: dep.id, result: { i }, resultUrl: null, last }]),
        ),
      );
      const queuedEvents = outcomes.flatMap((o) => o.outbox).filter((m) => m.jobId === d.id);
      expect(queuedEvents.map((m) => m.name)).toEqual(['switchyard.job.queued']);
      // The acceptance carries the job's priority (the metrics service's label, no lookup).
      expect(queuedEvents[0]?.payload).toMatchObject({ data: { seq: 1, priority: d.priority } });
      expect(await statusOf(d.id)).toMatchObject({ status: 'queued', pending_deps: 0, event_seq: '1' });
      expect(await flows.dependenciesOf(d.id)).toHaveLength(4);
    }
  });

  it('fails, runs or cancels the dependant of a failed job by its rule, transitively under fail', async () => {
    const failure = {
      status: 'failed' as const,
      error: { code: 'x', message: 'x', retryable: false },
      deadLettered: true,
    };
    const lastReport = { step: null, progress: 0, message: null };
    for (const [rule, expected] of [
      ['fail', { status: 'failed', error: { code: 'dependency_failed' } }],
      ['skip', { status: 'cancelled', error: { code: 'dependency_failed' } }],
      ['run', { status: 'waiting', pending_deps: 1 }],
    ] as const) {
      const { flowId, deps, d } = await fanIn(2, rule);
      const e = flowJob({ queue: deps[0].queue, flowId, ref: 'e', pendingDeps: 1 });
      await jobs.insertJobs([e], []);
      await db.query(`INSERT INTO job_dependencies (job_id, depends_on) VALUES ($1, $2)`, [e.id, d.id]);
      const finished = await jobs.finish(deps[0].id, 'w0', failure, lastReport);
      expect(await statusOf(d.id)).toMatchObject(expected);
      if (rule === 'fail') {
        expect(await statusOf(e.id)).toMatchObject({
          status: 'failed',
          error: { code: 'dependency_failed' },
        });
        expect(finished?.outbox.map((m) => [m.jobId, m.name])).toEqual([
          [d.id, 'switchyard.job.failed'],
          [e.id, 'switchyard.job.failed'],
        ]);
      }
      if (rule === 'run') {
        await jobs.completeFlowMany('w1', [{ jobId: deps[1].id, result: 1, resultUrl: null, last }]);
        expect(await statusOf(d.id)).toMatchObject({ status: 'queued' });
      }
    }
  });

  it('cancelling a running dependency only asks it to stop, its dependant keeps waiting; the sweeper’s worker_lost failure settles dependants', async () => {
    const { deps, d } = await fanIn(1);
    const cancelled = await lifecycle.cancel(deps[0].id);
    expect(cancelled.kind).toBe('cancel_requested'); // it was running
    const { d: d2, deps: deps2 } = await fanIn(1);
    await db.query(`UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [
      deps2[0].id,
    ]);
    const swept = await lifecycle.recoverExpiredLeases();
    expect(swept.rows.map((r) => r.id)).toContain(deps2[0].id);
    expect(await statusOf(d2.id)).toMatchObject({ status: 'failed', error: { code: 'dependency_failed' } });
    expect(swept.outbox.map((m) => m.jobId)).toContain(d2.id);
    // The first flow's d still waits: its dependency is only asked to stop.
    expect(await statusOf(d.id)).toMatchObject({ status: 'waiting' });
  });

  it('spawns children once: a second call for the same job returns the first call’s children', async () => {
    const parent = flowJob();
    await jobs.insertJobs([parent], []);
    await jobs.claimMany([parent.id], 'w', 60000);
    const child = (i: number) => ({ ...flowJob({ queue: parent.queue }), ref: `c${i}` });
    const first = await flows.spawn(parent.id, [child(0), child(1), child(2)], {
      ...flowJob({ queue: parent.queue }),
      ref: 'cont',
    });
    expect(first.created).toBe(true);
    expect(first.children).toHaveLength(3);
    expect(first.outbox).toHaveLength(3);
    const again = await flows.spawn(parent.id, [child(0), child(1), child(2)], {
      ...flowJob({ queue: parent.queue }),
      ref: 'cont',
    });
    expect(again).toMatchObject({
      created: false,
      children: first.children,
      continuation: first.continuation,
    });
    const rows = await db.query<{ n: string }[]>(`SELECT count(*) AS n FROM jobs WHERE spawned_by = $1`, [
      parent.id,
    ]);
    expect(rows[0]?.n).toBe('4');
    expect(await statusOf(first.continuation!)).toMatchObject({ status: 'waiting', pending_deps: 3 });
  });
});
