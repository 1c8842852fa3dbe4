import Redis from 'ioredis';
import { LiveProgressStore } from '@switchyard/live-state';
import { TEST_SERVICES, waitFor } from '@switchyard/testing';
import { cpuMark, cpuReport, hasBatchRoute, submitBatches, submitSingles, type BenchStack } from '../harness';
import { round, sleep, spread } from '../stats';
import { TrackerWatch } from '../tracker-watch';
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

/** One throughput run's figures. */
interface Run {
  jobsPerSecond: number;
  workerJobsPerSecond: number;
  steadyJobsPerSecond: number;
  acceptedJobsPerSecond: number;
  completed: number;
  notCompleted: number;
  projected: number;
  attemptsPerJob: number;
  submitRetries: number;
  elapsedMs: number;
  workerElapsedMs: number;
  trackerLagMs: number | null;
  submitMs: number;
  cpu: Record<string, unknown>;
  postgresWritesPerJob?: Record<string, number>;
}

/**
 * SPEC §10 end-to-end throughput: `synthetic` jobs with durationMs 0, submitted through
 * POST /jobs/batch (batchSize per request, `submitters` concurrent loops) to a worker process
 * started before, run `--repeat` times on the same stack. A run's window starts when the first
 * request is sent and ends when the progress-tracker has projected every job's terminal state
 * (seen on its live-state channel, `TrackerWatch`), not at the worker's last commit: jobs/s =
 * N ÷ that window. Nothing polls PostgreSQL during the window. The worker's view (last
 * `finished_at`) and the steady state (10th → 90th percentile of `finished_at`) are reported
 * beside it; the CPU of every component is measured over the same window.
 */
export async function throughput(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { options, log } = ctx;
  const bench = await ctx.stack();
  const batch = await hasBatchRoute(bench.http);
  log(
    `throughput: ${options.jobs} jobs via ${batch ? `POST /jobs/batch (${options.batchSize} per batch)` : 'concurrent POST /jobs (no batch route yet)'}, ${options.submitters} submitters, worker concurrency ${options.concurrency}, ${options.repeat} run(s)`,
  );
  const watch = await TrackerWatch.start(bench.stack.redisPrefix);
  const runs: Run[] = [];
  try {
    const runOf = async (jobs: number, profile: boolean) => {
      await bench.waitForDrain(120000);
      watch.clear();
      return throughputRun({ ...ctx, options: { ...options, jobs } }, bench, watch, batch, profile);
    };
    if (options.warmup > 0) {
      const warm = await runOf(options.warmup, false);
      log(
        `throughput warm-up (${options.warmup} jobs, not counted): ${round(warm.jobsPerSecond)} jobs/s end to end`,
      );
    }
    for (let i = 0; i < options.repeat; i++) {
      const run = await runOf(options.jobs, i === 0 && options.profile);
      runs.push(run);
      log(
        `throughput run ${i + 1}/${options.repeat}: ${round(run.jobsPerSecond)} jobs/s end to end (worker's last commit: ${round(run.workerJobsPerSecond)}; tracker ${run.trackerLagMs ?? '?'} ms behind); CPU ${JSON.stringify(run.cpu['cpuMs'])}`,
      );
    }
  } finally {
    await watch.stop();
  }
  const rate = spread(runs.map((r) => r.jobsPerSecond));
  const steady = spread(runs.map((r) => r.steadyJobsPerSecond));
  const workerRate = spread(runs.map((r) => r.workerJobsPerSecond));
  const accepted = spread(runs.map((r) => r.acceptedJobsPerSecond));
  const allDone = runs.every((r) => r.completed === options.jobs && r.projected === options.jobs);
  // CPU per job by component: of the run whose rate is the median (the lower middle one for an even count).
  const medianRun = [...runs].sort((a, b) => a.jobsPerSecond - b.jobsPerSecond)[
    Math.floor((runs.length - 1) / 2)
  ];
  const perJob = (medianRun.cpu['cpuMsPerJob'] ?? {}) as Record<string, number>;
  const n = options.repeat > 1 ? `, median of ${options.repeat} runs` : '';
  return {
    name: 'throughput',
    rows: [
      {
        measure: `end-to-end throughput, ${options.jobs} no-op jobs${batch ? ' via /jobs/batch' : ' via single POST (no batch route)'}${n}`,
        value: round(rate.median),
        unit: 'jobs/s',
        target: `≥ ${THROUGHPUT_TARGET}`,
        pass: allDone && atLeast(rate.median, THROUGHPUT_TARGET),
      },
      ...(options.repeat > 1
        ? [
            {
              measure: '  min–max over the runs',
              value: `${round(rate.min)}–${round(rate.max)} jobs/s`,
              unit: '',
              target: '',
              pass: null,
            },
          ]
        : []),
      ...(allDone
        ? []
        : [
            {
              measure: '  jobs completed / projected by the tracker (lowest run): window not valid',
              value: `${Math.min(...runs.map((r) => r.completed))} / ${Math.min(...runs.map((r) => r.projected))} of ${options.jobs}`,
              unit: '',
              target: '',
              pass: false,
            },
          ]),
      {
        measure: "  window to the worker's last commit (tracker not waited for)",
        value: round(workerRate.median),
        unit: 'jobs/s',
        target: '',
        pass: null,
      },
      {
        measure: '  steady state (10th→90th percentile of completions)',
        value: round(steady.median),
        unit: 'jobs/s',
        target: '',
        pass: null,
      },
      {
        measure: '  accepted by the gateway (submission only)',
        value: round(accepted.median),
        unit: 'jobs/s',
        target: '',
        pass: null,
      },
      {
        measure: '  CPU per job (ms)',
        value: Object.entries(perJob)
          .map(([name, ms]) => `${name.replace(/ \(.*\)$/, '')} ${ms}`)
          .join(', '),
        unit: '',
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
      repeat: options.repeat,
      jobsPerSecond: round(rate.median),
      jobsPerSecondSpread: { ...rate, values: rate.values.map((v) => round(v)) },
      workerJobsPerSecond: round(workerRate.median),
      steadyJobsPerSecond: round(steady.median),
      cpu: medianRun.cpu,
      runs,
    },
  };
}

async function throughputRun(
  ctx: ScenarioContext,
  bench: BenchStack,
  watch: TrackerWatch,
  batch: boolean,
  countWrites: boolean,
): Promise<Run> {
  const { options, log } = ctx;
  const tag = `throughput-${Date.now()}`;
  const item = () => ({ type: 'synthetic', payload: { durationMs: 0 }, metadata: { bench: tag } });
  const writesBefore = countWrites ? await bench.writeCounters() : undefined;
  bench.startProfiling(options);
  const cpuBefore = await cpuMark(bench);
  const submitted = batch
    ? await submitBatches(bench.http, options.jobs, options.batchSize, options.submitters, item)
    : await submitSingles(bench.http, options.jobs, options.submitters * 8, item);
  log(
    `throughput: submitted in ${submitted.lastAckMs - submitted.firstSendMs} ms (${Math.round((submitted.jobs * 1000) / (submitted.lastAckMs - submitted.firstSendMs))} jobs/s accepted)`,
  );
  const caught = await watch.caughtUp(submitted.ids, Math.max(120000, options.jobs * 20));
  const endMs = caught.at ?? Date.now();
  const cpuAfter = await cpuMark(bench);
  if (caught.at === null) {
    log(
      `throughput: the tracker projected ${caught.seen} of ${submitted.ids.length} jobs before the timeout`,
    );
    await bench.waitForDrain(60000).catch(() => undefined);
  }

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
  if (options.timeline) {
    const tl = await bench.db.query<{ s: string; created: string; started: string; finished: string }>(
      `SELECT s, sum(c) AS created, sum(st) AS started, sum(f) AS finished FROM (
         SELECT floor((extract(epoch FROM created_at) * 1000 - $2) / 500) AS s, 1 AS c, 0 AS st, 0 AS f FROM jobs WHERE metadata->>'bench' = $1
         UNION ALL SELECT floor((extract(epoch FROM started_at) * 1000 - $2) / 500), 0, 1, 0 FROM jobs WHERE metadata->>'bench' = $1
         UNION ALL SELECT floor((extract(epoch FROM finished_at) * 1000 - $2) / 500), 0, 0, 1 FROM jobs WHERE metadata->>'bench' = $1) x
       GROUP BY s ORDER BY s`,
      [tag, submitted.firstSendMs],
    );
    log(
      `timeline (500 ms): ${tl.rows.map((r) => `${r.s}:${r.created}/${r.started}/${r.finished}`).join(' ')}; tracker caught up at ${Math.round(endMs - submitted.firstSendMs)} ms`,
    );
  }
  const completed = Number(t.completed);
  const elapsedMs = endMs - submitted.firstSendMs;
  const workerElapsedMs = Number(t.last_finished_ms) - submitted.firstSendMs;

  // PostgreSQL publishes a backend's table statistics at most once a second, and an idle
  // backend's only after PGSTAT_IDLE_INTERVAL (10 s): exact counts need that long, so they are
  // only collected when profiling.
  let writes: Record<string, number> | undefined;
  if (writesBefore) {
    await sleep(11000);
    const writesAfter = await bench.writeCounters();
    writes = {};
    for (const [key, after] of Object.entries(writesAfter)) {
      writes[key] = round((after - (writesBefore[key] ?? 0)) / options.jobs, 2);
    }
  }
  return {
    jobsPerSecond: round((Math.min(completed, caught.seen) * 1000) / elapsedMs),
    workerJobsPerSecond: round((completed * 1000) / workerElapsedMs),
    steadyJobsPerSecond: round((0.8 * completed * 1000) / (Number(t.t90_ms) - Number(t.t10_ms))),
    acceptedJobsPerSecond: round((submitted.jobs * 1000) / (submitted.lastAckMs - submitted.firstSendMs)),
    completed,
    notCompleted: Number(t.other),
    projected: caught.seen,
    attemptsPerJob: round(Number(t.attempts) / Math.max(1, completed), 3),
    submitRetries: submitted.retried,
    elapsedMs: Math.round(elapsedMs),
    workerElapsedMs: Math.round(workerElapsedMs),
    trackerLagMs: caught.at === null ? null : Math.round(caught.at - Number(t.last_finished_ms)),
    submitMs: submitted.lastAckMs - submitted.firstSendMs,
    cpu: cpuReport(cpuBefore, cpuAfter, options.jobs),
    ...(writes ? { postgresWritesPerJob: writes } : {}),
  };
}

/** How many of the last completions trackerCatchUp checks in the live state (one Redis round trip). */
const CATCH_UP_SAMPLE = 500;

/**
 * How long after the last completion the progress-tracker had projected the `completed` events:
 * its lag behind the worker at the end of the run. The worker writes a completion's history row
 * itself, so the tracker's progress shows in the live state it keeps in Redis: the run's last
 * CATCH_UP_SAMPLE completions all shown `completed` there (the tracker writes its batches in
 * order, so the earlier ones were projected before them).
 */
export async function trackerCatchUp(bench: BenchStack, lastFinishedMs: number): Promise<number | null> {
  const redis = new Redis(TEST_SERVICES.redis, { lazyConnect: true, maxRetriesPerRequest: null });
  try {
    await redis.connect();
    const live = new LiveProgressStore(redis, { prefix: bench.stack.redisPrefix, ttlSeconds: 60 });
    const { rows } = await bench.db.query<{ id: string }>(
      `SELECT id FROM jobs WHERE status = 'completed' ORDER BY finished_at DESC LIMIT $1`,
      [CATCH_UP_SAMPLE],
    );
    const ids = rows.map((r) => r.id);
    await waitFor(async () => (await live.getLiveMany(ids)).every((state) => state?.status === 'completed'), {
      timeoutMs: 60000,
      intervalMs: 250,
      what: 'the tracker to catch up',
    });
    return Math.max(0, Date.now() - lastFinishedMs);
  } catch {
    return null;
  } finally {
    redis.disconnect();
  }
}
