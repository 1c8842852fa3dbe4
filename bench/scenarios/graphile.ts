import { randomBytes } from 'node:crypto';
import { Client, Pool } from 'pg';
import { TEST_SERVICES, waitFor } from '@switchyard/testing';
import { machineCpu } from '../harness';
import { PgBackendCpu } from '../pg-cpu';
import {
  invertedPriority,
  packageVersion,
  submitAndTime,
  PeerWorker,
  peerCounts,
  repeatPeer,
  SWITCHYARD_PRIORITY,
  type PeerRun,
} from './peer';
import type { ScenarioContext, ScenarioResult } from './types';

/**
 * The durable peer: the same number of no-op jobs through Graphile Worker, PostgreSQL only, in a
 * database of its own on the same server and in a window of its own (main.ts runs it after
 * Switchyard's stack has stopped). One worker process at the Switchyard worker's concurrency,
 * started (and migrated) before submission; jobs added through `graphile_worker.add_jobs` (its
 * bulk insert, one statement per batch) in batches of the same size by the same number of
 * concurrent submitters, each job with Switchyard's default priority mapped to Graphile Worker's
 * order (lower first). Jobs/s = N ÷ (the worker's N-th completion written back − first add).
 * CPU: the worker process, the PostgreSQL backends of its database (the submitters' inserts
 * included, as the gateway's are for Switchyard), the bench.
 */
export async function graphile(ctx: ScenarioContext): Promise<ScenarioResult> {
  const version = await packageVersion('graphile-worker');
  return repeatPeer(ctx, 'graphile', `Graphile Worker ${version} (PostgreSQL only)`, () => graphileRun(ctx));
}

async function graphileRun(ctx: ScenarioContext): Promise<PeerRun> {
  const { options, log } = ctx;
  const database = `sybench_graphile_${randomBytes(4).toString('hex')}`;
  const url = `${TEST_SERVICES.postgres}/${database}`;
  const admin = new Client({ connectionString: `${TEST_SERVICES.postgres}/postgres` });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${database}"`);
  const monitor = new Client({ connectionString: url, application_name: 'bench' });
  const pool = new Pool({
    connectionString: url,
    max: options.submitters,
    application_name: 'bench-producer',
  });
  // An idle producer connection ended by the database's drop (after a failed run) must not kill the
  // bench: the run's own error is what gets reported.
  pool.on('error', (err) => log(`graphile: producer connection closed: ${err.message}`));
  monitor.on('error', (err) => log(`graphile: monitor connection closed: ${err.message}`));
  let worker: PeerWorker | undefined;
  try {
    await monitor.connect();
    worker = PeerWorker.start('graphile-worker.mjs', [url, String(options.concurrency), peerCounts(options)]);
    await worker.next('ready');
    const pgCpu = await PgBackendCpu.of(monitor);
    const priority = invertedPriority(SWITCHYARD_PRIORITY, 0);
    log(
      `graphile: ${options.jobs} no-op jobs with priority ${priority}, add_jobs of ${options.batchSize}, ${options.submitters} submitters, concurrency ${options.concurrency}`,
    );
    // Open the submitters' connections before the window, as the gateway's pool is open before Switchyard's.
    await Promise.all(
      Array.from({ length: options.submitters }, async () => {
        const c = await pool.connect();
        await c.query('SELECT 1');
        return c;
      }),
    ).then((clients) => clients.forEach((c) => c.release()));
    const live = worker;
    const cpuAt = async () => {
      await pgCpu.sample();
      return {
        components: {
          'graphile-worker worker': live.cpuMs(),
          'postgres (its database)': pgCpu.servicesMs,
          'bench (producer)': (process.cpuUsage().user + process.cpuUsage().system) / 1000,
        },
        machine: machineCpu(),
      };
    };
    const sampler = setInterval(() => void pgCpu.sample(), 500);
    sampler.unref();
    try {
      return await submitAndTime(
        worker,
        options,
        cpuAt,
        (from, to) =>
          pool.query(
            `SELECT count(*) FROM graphile_worker.add_jobs(
               array(SELECT json_populate_recordset(NULL::graphile_worker.job_spec, $1::json)))`,
            [
              JSON.stringify(
                Array.from({ length: to - from }, () => ({
                  identifier: 'noop',
                  payload: { durationMs: 0 },
                  priority,
                })),
              ),
            ],
          ),
        // Completed jobs are deleted: the table must be empty now (nothing failed or left behind).
        () =>
          waitFor(
            async () =>
              Number(
                (
                  await monitor.query<{ n: string }>(
                    'SELECT count(*) AS n FROM graphile_worker._private_jobs',
                  )
                ).rows[0]?.n,
              ) === 0,
            { timeoutMs: 10000, intervalMs: 100, what: "Graphile Worker's jobs table to be empty" },
          ).then(() => undefined),
      );
    } finally {
      clearInterval(sampler);
    }
  } finally {
    await worker?.stop();
    await pool.end().catch(() => undefined);
    await monitor.end().catch(() => undefined);
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`).catch(() => undefined);
    await admin.end().catch(() => undefined);
  }
}
