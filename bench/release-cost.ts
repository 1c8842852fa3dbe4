// The dispatcher's release statement alone, without the services: a backlog like the bench's (N
// jobs over T tenants, priorities 0–9, one queue) released in window-sized batches while a
// simulated worker claims and completes the oldest released jobs, as in the backlog's drain.
// Prints the release's wall time and its backend's CPU per job, so that a change to the statement
// or to the table's upkeep can be measured on its own. See bench/release-cost.mjs for the options.
import { readFileSync } from 'node:fs';
import { Client } from 'pg';
import { DEFAULT_PRIORITY } from '@switchyard/contracts';
import type { Pool } from 'pg';
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
  const levels = arg('levels', 10);
  const run = arg('run', 1);
  const explain = arg('explain', 0);
  const url =
    process.env.RELEASE_COST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/switchyard_release_cost';
  await ensureDatabase(url);
  await runMigrations(url);
  const admin = new Client({ connectionString: url });
  await admin.connect();
  await admin.query('SET jit = off');
  if (!process.argv.includes('--reuse')) {
    await admin.query('TRUNCATE jobs, job_events, outbox CASCADE');
    // Priorities from a fixed mix (or the default level alone: --levels 1), tenants in turn by
    // runs of --run jobs (the throughput bench submits 100 per batch, one tenant's key a batch),
    // created over 20 s of submission.
    await admin.query(
      `INSERT INTO jobs (id, tenant, type, queue, status, priority, max_attempts, timeout_ms, correlation_id,
         request_hash, payload, created_at)
       SELECT gen_random_uuid(), 'tenant-' || lpad(((i / $4) % $2)::text, 3, '0'), 'synthetic', 'default', 'queued',
         CASE WHEN $3::int = 1 THEN $5::int ELSE (i * 7919) % $3::int END::smallint, 3, 60000, 'c' || i, '', '{}'::jsonb,
         now() - interval '20 seconds' + (i * interval '20 seconds' / $1)
       FROM generate_series(1, $1) i`,
      [jobs, tenants, levels, run, DEFAULT_PRIORITY],
    );
    await admin.query('ANALYZE jobs');
  }
  const db = createDataSource(url, { poolSize: 1, applicationName: 'release-cost' });
  await db.initialize();
  if (explain) {
    // --explain N: the plans (auto_explain, ANALYZE and BUFFERS) of the releases from the N-th on
    // (five of them), sent to this client as notices (one connection: poolSize 1).
    const client = await (db.driver as unknown as { master: Pool }).master.connect();
    client.on('notice', (notice) => {
      if (calls >= explain && calls < explain + 5) print(String(notice.message));
    });
    await client.query(
      `LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on;
       SET auto_explain.log_buffers = on; SET auto_explain.log_nested_statements = on; SET client_min_messages = log`,
    );
    client.release();
  }
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
  // Whether the release statements ran with a generic plan (planned once) or custom plans (planned
  // on every call): the pool has the one connection that prepared them.
  const plans = await db.query<{ name: string; generic_plans: string; custom_plans: string }[]>(
    `SELECT name, generic_plans, custom_plans FROM pg_prepared_statements ORDER BY name`,
  );
  print(
    `plans: ${plans.map((p) => `${p.name} ${p.generic_plans} generic, ${p.custom_plans} custom`).join('; ')}`,
  );
  await db.destroy();
  await admin.end();
}
