// PostgreSQL's share of the main path alone, without the services: batches of 100 jobs inserted
// with their `job.queued` outbox rows (then deleted, as the publisher does), released by the
// dispatcher's fair statement within a window, claimed and completed by a simulated worker's
// turns (completeAndClaim, 8 a turn), the table vacuumed as the gateways' maintenance does.
// Prints the backends' CPU per job and the table's index entries per job, so that a change to the
// jobs table's indexes (or to a statement of the path) can be measured on its own.
// See bench/version-cost.mjs for the options.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Client } from 'pg';
import type { Pool } from 'pg';
import { DEFAULT_PRIORITY } from '@switchyard/contracts';
import {
  createDataSource,
  DispatchRepository,
  ensureDatabase,
  JobsRepository,
  queuedEventOf,
  runMigrations,
  type NewJob,
} from '@switchyard/persistence';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const APP = 'version-cost';

/** CPU time (ms) of this application's backends so far, from /proc (PostgreSQL on this host). */
async function backendCpuMs(admin: Client): Promise<number> {
  const { rows } = await admin.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE application_name = $1`,
    [APP],
  );
  let ticks = 0;
  for (const { pid } of rows) {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * 10;
}

function newJob(tenant: string, released: boolean): NewJob {
  return {
    released,
    id: randomUUID(),
    tenant,
    type: 'synthetic',
    queue: 'default',
    priority: DEFAULT_PRIORITY,
    maxAttempts: 3,
    timeoutMs: 60_000,
    correlationId: randomUUID(),
    idempotencyKey: null,
    requestHash: '',
    payload: {},
    metadata: {},
  };
}

export async function main(): Promise<void> {
  const jobs = arg('jobs', 20_000);
  const tenants = arg('tenants', 151);
  const window = arg('window', 200);
  const vacuumRows = arg('vacuum', 5_000);
  // --self-release: every job released by its own insert (the fast path of an idle queue), so no
  // release statement and no release version: what that version and its statement cost.
  const selfRelease = process.argv.includes('--self-release');
  const url =
    process.env.VERSION_COST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/switchyard_version_cost';
  await ensureDatabase(url);
  await runMigrations(url);
  const admin = new Client({ connectionString: url });
  await admin.connect();
  await admin.query('TRUNCATE jobs, job_events, outbox CASCADE');
  await admin.query('VACUUM jobs');
  const db = createDataSource(url, { poolSize: 1, applicationName: APP });
  await db.initialize();
  const explain = arg('explain', 0);
  if (explain) {
    // --explain N: the plans (auto_explain, ANALYZE, BUFFERS, WAL) of the statements of rounds N and N + 1,
    // sent to this client as notices (one connection: poolSize 1).
    const client = await (db.driver as unknown as { master: Pool }).master.connect();
    client.on('notice', (notice) => {
      if (round >= explain && round < explain + 2) process.stdout.write(`${String(notice.message)}\n`);
    });
    await client.query(
      `LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on;
       SET auto_explain.log_buffers = on; SET auto_explain.log_wal = on; SET client_min_messages = log`,
    );
    client.release();
  }
  const repo = new JobsRepository(db);
  const dispatch = new DispatchRepository(db, APP);
  // This database's statements (pg_stat_statements, summed before and after: no reset).
  // The view is where the extension was created: the server's `postgres` database.
  const server = new Client({ connectionString: new URL('/postgres', url).toString() });
  await server.connect();
  const dbid = (
    await admin.query<{ oid: number }>(`SELECT oid FROM pg_database WHERE datname = current_database()`)
  ).rows[0].oid;
  const statements = async () =>
    (
      await server.query<{ ms: number; wal: string; hit: string }>(
        `SELECT coalesce(sum(total_exec_time), 0)::float AS ms, coalesce(sum(wal_bytes), 0)::text AS wal,
           coalesce(sum(shared_blks_hit), 0)::text AS hit
         FROM pg_stat_statements WHERE dbid = $1`,
        [dbid],
      )
    ).rows[0];
  const before = await statements();
  const cpuBefore = await backendCpuMs(admin);
  const started = performance.now();
  let inserted = 0;
  let completed = 0;
  let running: string[] = [];
  let after = '';
  let sinceVacuum = 0;
  let round = 0;
  let fresh: string[] = [];
  while (completed < jobs) {
    if (inserted < jobs) {
      const batch = Array.from({ length: 100 }, () =>
        newJob(`tenant-${String(round % tenants).padStart(3, '0')}`, selfRelease),
      );
      const createdAt = new Date().toISOString();
      const outbox = batch.map((job) => queuedEventOf('gateway', job, createdAt));
      const { outboxIds } = await repo.insertJobs(batch, outbox);
      await repo.deleteOutbox(outboxIds);
      inserted += batch.length;
      fresh = batch.map((j) => j.id);
    }
    round++;
    const released = selfRelease
      ? { jobs: [] }
      : await dispatch.releaseReady('default', 500, 60_000, window, true, { after });
    if (released.jobs.length) after = released.jobs[released.jobs.length - 1].tenant;
    let claimable = selfRelease ? fresh : released.jobs.map((j) => j.id);
    // The worker: turns of 8 until what was released is claimed (and the last turn's completed).
    do {
      const claim = claimable.slice(0, 8);
      claimable = claimable.slice(8);
      const turn = await repo.completeAndClaim(
        'w',
        60_000,
        running.map((jobId) => ({
          jobId,
          result: null,
          resultUrl: null,
          last: { step: null, message: null },
        })),
        claim,
      );
      completed += turn.completed.filter(Boolean).length;
      running = turn.claimed.flatMap((c) => (c ? [c.id] : []));
    } while (claimable.length || (running.length && inserted >= jobs));
    sinceVacuum += selfRelease ? fresh.length : released.jobs.length;
    fresh = [];
    // The first rounds' plans were made for an empty table: analyze it once it holds a few batches
    // (the gateways' maintenance does when 5 % of it changed) and as it grows, then at every --vacuum
    // released jobs; else the prepared release statements keep a generic plan made for a tiny table.
    if ([5, 10, 20, 40].includes(round) || (vacuumRows && sinceVacuum >= vacuumRows)) {
      await db.query('VACUUM (SKIP_LOCKED, TRUNCATE false, ANALYZE) jobs');
      await db.query('VACUUM (SKIP_LOCKED, TRUNCATE false) outbox');
      sinceVacuum = 0;
    }
  }
  const ms = performance.now() - started;
  const cpu = (await backendCpuMs(admin)) - cpuBefore;
  const end = await statements();
  const per = (x: number) => (x / completed).toFixed(1);
  process.stdout.write(
    `${completed} jobs in ${(ms / 1000).toFixed(1)} s: backend CPU ${((cpu / completed) * 1000).toFixed(0)} µs a job; ` +
      `statements ${per((end.ms - before.ms) * 1000)} µs, ${per(Number(end.wal) - Number(before.wal))} WAL bytes, ` +
      `${per(Number(end.hit) - Number(before.hit))} buffers hit a job\n`,
  );
  await db.destroy();
  await admin.end();
  await server.end();
}
