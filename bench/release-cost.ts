// The dispatcher's release statement alone, without the services: a backlog like the bench's (N
// jobs over T tenants, priorities 0–9, one queue) released in window-sized batches while a
// simulated worker claims and completes the oldest released jobs, as in the backlog's drain.
// Prints the release's wall time and its backend's CPU per job, so that a change to the statement
// or to the table's upkeep can be measured on its own. See bench/release-cost.mjs for the options.
import { readFileSync } from 'node:fs';
import { Client } from 'pg';
import { createDataSource, DispatchRepository, ensureDatabase, runMigrations } from '@switchyard/persistence';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};

const print = (line: string) => process.stdout.write(`${line}\n`);

/** CPU time (ms) of the backends of this application so far, from /proc (PostgreSQL on this host). */
async function backendCpuMs(admin: Client): Promise<number> {
  const { rows } = await admin.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE application_name = 'release-cost'`,
  );
  let ticks = 0;
  for (const { pid } of rows) {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * 10;
}

export async function main(): Promise<void> {
  const jobs = arg('jobs', 100_000);
  const tenants = arg('tenants', 151);
  const window = arg('window', 65);
  const release = arg('release', 20_000);
  const aging = arg('aging', 60_000);
  const vacuumEvery = arg('vacuum', 0);
  const url =
    process.env.RELEASE_COST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/switchyard_release_cost';
  await ensureDatabase(url);
  await runMigrations(url);
  const admin = new Client({ connectionString: url });
  await admin.connect();
  await admin.query('SET jit = off');
  if (!process.argv.includes('--reuse')) {
    await admin.query('TRUNCATE jobs, job_events, outbox CASCADE');
    // Priorities from a fixed mix, tenants in turn, created over 20 s of submission.
    await admin.query(
      `INSERT INTO jobs (id, tenant, type, queue, status, priority, max_attempts, timeout_ms, correlation_id,
         request_hash, payload, created_at)
       SELECT gen_random_uuid(), 'tenant-' || lpad((i % $2)::text, 3, '0'), 'synthetic', 'default', 'queued',
         ((i * 7919) % 10)::smallint, 3, 60000, 'c' || i, '', '{}'::jsonb,
         now() - interval '20 seconds' + (i * interval '20 seconds' / $1)
       FROM generate_series(1, $1) i`,
      [jobs, tenants],
    );
    await admin.query('ANALYZE jobs');
  }
  const db = createDataSource(url, { poolSize: 1, applicationName: 'release-cost' });
  await db.initialize();
  const repo = new DispatchRepository(db, 'release-cost');
  const cpuBefore = await backendCpuMs(admin);
  let after = '';
  let released = 0;
  let calls = 0;
  let pairsCalls = 0;
  let pairsUntil = 0;
  let fair = true;
  let ms = 0;
  while (released < release) {
    // The worker: completes what it ran, claims the oldest half window of released jobs.
    await admin.query(
      `WITH done AS (UPDATE jobs SET status = 'completed', finished_at = now() WHERE status = 'running' RETURNING 1)
       UPDATE jobs SET status = 'running', started_at = now() WHERE id IN (
         SELECT id FROM jobs WHERE status = 'queued' AND dispatched_at IS NOT NULL ORDER BY dispatched_at LIMIT $1)`,
      [Math.ceil(window / 2)],
    );
    if (vacuumEvery && calls % vacuumEvery === 0) await admin.query('VACUUM jobs');
    const started = performance.now();
    const result = await repo.releaseReady('default', 500, aging, window, fair, {
      after,
      pairs: Date.now() < pairsUntil,
    });
    ms += performance.now() - started;
    calls++;
    released += result.jobs.length;
    if (result.jobs.length) after = result.jobs[result.jobs.length - 1].tenant;
    fair = (result.tenants ?? 2) > 1;
    if (result.pairs) {
      pairsCalls++;
      // As the dispatcher: after the turns statement did not answer, pairs for a second.
      if (Date.now() >= pairsUntil) pairsUntil = Date.now() + 1000;
    }
    if (!result.jobs.length && result.released === 0) break;
  }
  const cpu = (await backendCpuMs(admin)) - cpuBefore;
  print(
    `released ${released} in ${calls} calls (${pairsCalls} by the pairs statement): ${(ms / calls).toFixed(2)} ms ` +
      `and ${(released / calls).toFixed(1)} jobs a call; per job ${((ms / released) * 1000).toFixed(0)} µs wall, ` +
      `${((cpu / released) * 1000).toFixed(0)} µs backend CPU (with the simulated worker's statements)`,
  );
  await db.destroy();
  await admin.end();
}
