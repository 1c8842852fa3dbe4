import { waitFor } from '@switchyard/testing';
import { cpuMark, cpuReport, hasBatchRoute, submitBatches, submitSingles, type BenchStack } from '../harness';
import { round, sleep } from '../stats';
import { atLeast, type ScenarioContext, type ScenarioResult } from './types';

export const THROUGHPUT_TARGET = 2000;

interface Timing {
  completed: string;
  other: string;
  attempts: string;
  first_created_ms: number;
  last_finished_ms: number;
  t10_ms: number;
  t90_ms: number;
}

/**
 * SPEC §10 end-to-end throughput: `synthetic` jobs with durationMs 0, submitted through
 * POST /jobs/batch (batchSize per request, `submitters` concurrent loops), run by one worker
 * process and `completed` in PostgreSQL. Jobs/s = N ÷ (last finished_at − first request sent).
 */
export async function throughput(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { options, log } = ctx;
  const bench = await ctx.stack();
  const tag = `throughput-${Date.now()}`;
  const item = () => ({ type: 'synthetic', payload: { durationMs: 0 }, metadata: { bench: tag } });
  const batch = await hasBatchRoute(bench.http);
  log(
    `throughput: ${options.jobs} jobs via ${batch ? `POST /jobs/batch (${options.batchSize} per batch)` : 'concurrent POST /jobs (no batch route yet)'}, ${options.submitters} submitters, worker concurrency ${options.concurrency}`,
  );
  const writesBefore = await bench.writeCounters();
  bench.startProfiling(options);
  const cpuBefore = await cpuMark(bench);
  const submitted = batch
    ? await submitBatches(bench.http, options.jobs, options.batchSize, options.submitters, item)
    : await submitSingles(bench.http, options.jobs, options.submitters * 8, item);
  log(
    `throughput: submitted in ${submitted.lastAckMs - submitted.firstSendMs} ms (${Math.round((submitted.jobs * 1000) / (submitted.lastAckMs - submitted.firstSendMs))} jobs/s accepted)`,
  );
  await bench.waitForDrain(Math.max(120000, options.jobs * 20), 200);
  const cpuAfter = await cpuMark(bench);

  const { rows } = await bench.db.query<Timing>(
    `SELECT count(*) FILTER (WHERE status = 'completed') AS completed,
            count(*) FILTER (WHERE status <> 'completed') AS other,
            sum(attempts) AS attempts,
            extract(epoch FROM min(created_at)) * 1000 AS first_created_ms,
            extract(epoch FROM max(finished_at)) * 1000 AS last_finished_ms,
            extract(epoch FROM percentile_disc(0.1) WITHIN GROUP (ORDER BY finished_at)) * 1000 AS t10_ms,
            extract(epoch FROM percentile_disc(0.9) WITHIN GROUP (ORDER BY finished_at)) * 1000 AS t90_ms
     FROM jobs WHERE metadata->>'bench' = $1`,
    [tag],
  );
  const t = rows[0];
  const completed = Number(t.completed);
  const elapsedMs = Number(t.last_finished_ms) - submitted.firstSendMs;
  const rate = (completed * 1000) / elapsedMs;
  const steady = (0.8 * completed * 1000) / (Number(t.t90_ms) - Number(t.t10_ms));
  const trackerLagMs = await trackerCatchUp(bench, Number(t.last_finished_ms));

  // PostgreSQL publishes a backend's table statistics at most once a second, and an idle
  // backend's only after PGSTAT_IDLE_INTERVAL (10 s): exact counts need that long, so they are
  // only collected when profiling.
  let writes: Record<string, number> | undefined;
  if (options.profile) {
    await sleep(11000);
    const writesAfter = await bench.writeCounters();
    writes = {};
    for (const [key, after] of Object.entries(writesAfter)) {
      writes[key] = round((after - (writesBefore[key] ?? 0)) / options.jobs, 2);
    }
  }
  const cpu = cpuReport(cpuBefore, cpuAfter, options.jobs);
  log(`throughput: ${round(rate)} jobs/s end to end; CPU ${JSON.stringify(cpu['cpuMs'])}`);
  return {
    name: 'throughput',
    rows: [
      {
        measure: `end-to-end throughput, ${options.jobs} no-op jobs${batch ? ' via /jobs/batch' : ' via single POST (no batch route)'}`,
        value: round(rate),
        unit: 'jobs/s',
        target: `≥ ${THROUGHPUT_TARGET}`,
        pass: completed === options.jobs && atLeast(rate, THROUGHPUT_TARGET),
      },
      {
        measure: '  steady state (10th→90th percentile of completions)',
        value: round(steady),
        unit: 'jobs/s',
        target: '',
        pass: null,
      },
      {
        measure: '  accepted by the gateway (submission only)',
        value: round((submitted.jobs * 1000) / (submitted.lastAckMs - submitted.firstSendMs)),
        unit: 'jobs/s',
        target: '',
        pass: null,
      },
    ],
    details: {
      jobs: options.jobs,
      route: batch ? 'POST /jobs/batch' : 'POST /jobs',
      batchSize: batch ? options.batchSize : 1,
      submitters: options.submitters,
      workerConcurrency: options.concurrency,
      completed,
      notCompleted: Number(t.other),
      attemptsPerJob: round(Number(t.attempts) / Math.max(1, completed), 3),
      submitRetries: submitted.retried,
      elapsedMs: Math.round(elapsedMs),
      submitMs: submitted.lastAckMs - submitted.firstSendMs,
      jobsPerSecond: round(rate),
      steadyJobsPerSecond: round(steady),
      trackerCaughtUpAfterLastCompletionMs: trackerLagMs,
      postgresWritesPerJob: writes ?? 'collected with --profile only',
      cpu,
    },
  };
}

/**
 * How long after the last completion the progress-tracker had projected every `completed`
 * event (history row written): its lag behind the worker at the end of the run.
 */
export async function trackerCatchUp(bench: BenchStack, lastFinishedMs: number): Promise<number | null> {
  try {
    await waitFor(
      async () => {
        const { rows } = await bench.db.query<{ missing: string }>(
          `SELECT count(*) AS missing FROM jobs j WHERE j.status = 'completed'
             AND NOT EXISTS (SELECT 1 FROM job_events e WHERE e.job_id = j.id AND e.event = 'completed')`,
        );
        return Number(rows[0]?.missing) === 0;
      },
      { timeoutMs: 60000, intervalMs: 250, what: 'the tracker to catch up' },
    );
    return Math.max(0, Date.now() - lastFinishedMs);
  } catch {
    return null;
  }
}
