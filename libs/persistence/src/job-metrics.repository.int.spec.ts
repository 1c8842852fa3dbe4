import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '@switchyard/testing';
import { createDataSource, runMigrations } from './data-source';
import { JobMetricsRepository } from './job-metrics.repository';
import { JobsRepository, type NewJob } from './jobs.repository';
import { newJob } from './jobs.testing';

function jobAtPriority(priority: number): NewJob {
  return newJob({ priority, correlationId: randomUUID() });
}

describe('JobMetricsRepository against PostgreSQL', () => {
  let database: TestDatabase;
  let db: DataSource;
  let store: JobMetricsRepository;

  beforeAll(async () => {
    database = await createTestDatabase(runMigrations);
    db = createDataSource(database.url, { poolSize: 2 });
    await db.initialize();
    store = new JobMetricsRepository(db);
  });

  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  it('answers the priorities of many jobs in one statement, again and again', async () => {
    const jobs = [jobAtPriority(0), jobAtPriority(7), jobAtPriority(9)];
    await new JobsRepository(db).insertJobs(jobs, []);
    const [a, b, c] = jobs.map((j) => j.id);
    const missing = randomUUID();
    // Several rounds on the pool's connections.
    for (let round = 0; round < 3; round++) {
      const found = await store.priorities([a, b, c, missing, a]);
      expect([...found.entries()].sort()).toEqual(
        [
          [a, 0],
          [b, 7],
          [c, 9],
        ].sort(),
      );
    }
  });

  it('leaves out ids that are not UUIDs instead of failing the others, and matches any case', async () => {
    const job = jobAtPriority(4);
    await new JobsRepository(db).insertJobs([job], []);
    const upper = job.id.toUpperCase();
    const found = await store.priorities(['not-a-uuid', upper, "x'; DROP TABLE jobs; --"]);
    expect(found.get(upper)).toBe(4);
    expect(found.has('not-a-uuid')).toBe(false);
    expect(await store.priorities(['nope'])).toEqual(new Map());
  });

  it('counts per queue the backlog, released, scheduled, running and retrying jobs, the oldest queued one, and the DLQ', async () => {
    await db.query('TRUNCATE jobs CASCADE');
    const jobs = Array.from({ length: 8 }, () => jobAtPriority(5));
    jobs[5] = { ...jobs[5], queue: 'other' };
    await new JobsRepository(db).insertJobs(jobs, []);
    const ids = jobs.map((j) => j.id);
    await db.query(`UPDATE jobs SET status = 'running' WHERE id = $1`, [ids[1]]);
    await db.query(`UPDATE jobs SET status = 'retrying' WHERE id = ANY($1::uuid[])`, [[ids[2], ids[3]]]);
    await db.query(`UPDATE jobs SET status = 'failed', dead_lettered = true WHERE id = $1`, [ids[4]]);
    // Backlog: not released yet; released: handed to RabbitMQ, not claimed.
    await db.query(`UPDATE jobs SET dispatched_at = NULL WHERE id = ANY($1::uuid[])`, [[ids[0], ids[6]]]);
    await db.query(`UPDATE jobs SET dispatched_at = now() WHERE id = $1`, [ids[5]]);
    await db.query(`UPDATE jobs SET status = 'scheduled', run_at = now() + interval '1 hour' WHERE id = $1`, [
      ids[7],
    ]);
    await db.query(`UPDATE jobs SET created_at = '2025-01-01T00:00:00Z' WHERE id = $1`, [ids[0]]);
    const states = await store.queueStates();
    expect(states.deadLettered).toBe(1);
    expect(states.queues.sort((a, b) => a.queue.localeCompare(b.queue))).toEqual([
      {
        queue: 'default',
        backlog: 2,
        released: 0,
        scheduled: 1,
        running: 1,
        retrying: 2,
        oldestQueuedAt: new Date('2025-01-01T00:00:00Z'),
      },
      {
        queue: 'other',
        backlog: 0,
        released: 1,
        scheduled: 0,
        running: 0,
        retrying: 0,
        oldestQueuedAt: expect.any(Date) as Date,
      },
    ]);
    await expect(store.ping()).resolves.toBeUndefined();
  });
});
