import { randomUUID } from 'node:crypto';
import { createDataSource, JobsRepository, runMigrations, type NewJob } from '@switchyard/persistence';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { JobStore } from './job-store';

const SERVER = process.env['TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432';
const NAME = `sytest_${randomUUID().slice(0, 8)}`;
const URL = `${SERVER}/${NAME}`;

function newJob(priority: number): NewJob {
  return {
    id: randomUUID(),
    tenant: 'acme',
    type: 'synthetic',
    queue: 'default',
    priority,
    maxAttempts: 3,
    timeoutMs: 60000,
    correlationId: randomUUID(),
    idempotencyKey: null,
    requestHash: 'h',
    payload: {},
    metadata: {},
  };
}

describe('JobStore against PostgreSQL', () => {
  let db: DataSource;
  let store: JobStore;

  beforeAll(async () => {
    await runMigrations(URL);
    db = createDataSource(URL, { poolSize: 2 });
    await db.initialize();
    store = new JobStore(db);
  });

  afterAll(async () => {
    await db?.destroy();
    const admin = new Client({ connectionString: `${SERVER}/postgres` });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${NAME}" WITH (FORCE)`);
    await admin.end();
  });

  it('answers the priorities of many jobs in one statement, again and again', async () => {
    const jobs = [newJob(0), newJob(7), newJob(9)];
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
    const job = newJob(4);
    await new JobsRepository(db).insertJobs([job], []);
    const upper = job.id.toUpperCase();
    const found = await store.priorities(['not-a-uuid', upper, "x'; DROP TABLE jobs; --"]);
    expect(found.get(upper)).toBe(4);
    expect(found.has('not-a-uuid')).toBe(false);
    expect(await store.priorities(['nope'])).toEqual(new Map());
  });
});
