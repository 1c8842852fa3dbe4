import { connect } from 'amqplib';
import { MAX_PRIORITY } from '@switchyard/contracts';
import { TEST_SERVICES, waitFor } from '@switchyard/testing';
import { automaticWindow, rateWindow } from '../../apps/gateway/src/dispatch/window';
import { sampleQueue } from '../broker';
import { BenchStack, cpuMark, cpuReport, submitBatches, type BenchOptions } from '../harness';
import { round, seededRandom, sleep } from '../stats';
import { trackerCatchUp } from './throughput';
import { atLeast, atMost, type Row, type ScenarioContext, type ScenarioResult } from './types';

export const DRAIN_TARGET = 1500;
export const RSS_TARGET_MB = 300;
/** PRIORITY_AGING_MS when the run does not set it (the services' default). */
const DEFAULT_PRIORITY_AGING_MS = 60000;

/**
 * SPEC §10 backlog: on a stack of its own, the worker is stopped, `backlog` no-op jobs with
 * priorities 0–9 (a fixed pseudo-random mix) are submitted through POST /jobs/batch and wait in
 * the PostgreSQL backlog (RabbitMQ holds only the dispatch window); once the tracker has caught
 * up, a worker is started. Drain rate = completed ÷ (last finished_at − first started_at); if the
 * backlog is not drained within --drain-seconds (to keep the bench within its time budget),
 * completed ÷ (cap time − first started_at). What RabbitMQ holds for the work queue (ready +
 * unacknowledged) is sampled from the first submission to the end of the drain and reported
 * beside the window. Every service's RSS is sampled (VmRSS and VmHWM, every 250 ms) from the
 * stack's start to the end of the drain. Priority order is judged by effective priority (priority
 * plus one level per PRIORITY_AGING_MS waited, at most 9), which is what the dispatcher releases by:
 * a job counts as out of order when, at the moment it was released, a job that started more than
 * 2 × concurrency starts after it (or had not started by the end) had a strictly higher effective
 * priority (jobs claimed together by the worker's concurrent slots may finish their claims in any
 * order). The strict inversions of the submitted priorities are reported beside it: once the drain
 * lasts longer than PRIORITY_AGING_MS, older low-priority jobs overtake newer high-priority ones by
 * design.
 */
export async function backlog(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { options, log } = ctx;
  const bench = await BenchStack.start(options);
  try {
    const tag = `backlog-${Date.now()}`;
    const random = seededRandom(20240601);
    const priorities = Array.from({ length: options.backlog }, () => Math.floor(random() * 10));
    const heaps = bench.sampleHeaps();
    await bench.stack.service('worker').stop('SIGTERM');
    log(`backlog: worker stopped; submitting ${options.backlog} jobs with priorities 0–9`);
    const workQueue = `${bench.id}.jobs.default`;
    const building = sampleQueue(workQueue);
    const submitted = await submitBatches(
      bench.http,
      options.backlog,
      options.batchSize,
      options.submitters,
      (i) => ({
        type: 'synthetic',
        payload: { durationMs: 0 },
        priority: priorities[i],
        metadata: { bench: tag },
      }),
    );
    const enqueueRate = (submitted.jobs * 1000) / (submitted.lastAckMs - submitted.firstSendMs);
    log(`backlog: enqueued at ${round(enqueueRate)} jobs/s; waiting for PostgreSQL and the tracker`);
    await waitForBacklog(bench, tag, options.backlog);
    const heldBuilding = await building.stop();

    const cpuBefore = await cpuMark(bench);
    log('backlog: starting a worker');
    const draining = sampleQueue(workQueue);
    const worker = await bench.stack.spawn('worker');
    bench.startProfiling(options);
    const deadline = Date.now() + options.drainSeconds * 1000;
    let drained = false;
    while (Date.now() < deadline) {
      if (!(await bench.hasActive())) {
        drained = true;
        break;
      }
      await sleep(1000);
    }
    const cutoff = Date.now();
    const heldDraining = await draining.stop();
    const cpuAfter = await cpuMark(bench);
    const rss = bench.maxRss();
    const heapMax = await heaps();
    if (!drained)
      log(
        `backlog: not drained after ${options.drainSeconds} s (--drain-seconds); the rate is measured over that window`,
      );

    // Start order, jobs that have not started yet last (as if they started after every other).
    const { rows } = await bench.db.query<{
      priority: number;
      started: number | null;
      finished: number | null;
      created: number;
      released: number | null;
      status: string;
      attempts: number;
    }>(
      `SELECT priority, status, attempts, extract(epoch FROM started_at) * 1000 AS started,
              extract(epoch FROM finished_at) * 1000 AS finished, extract(epoch FROM created_at) * 1000 AS created,
              extract(epoch FROM dispatched_at) * 1000 AS released
       FROM jobs WHERE metadata->>'bench' = $1 ORDER BY started_at NULLS LAST, id`,
      [tag],
    );
    const completed = rows.filter((r) => r.status === 'completed').length;
    drained ||= completed === options.backlog;
    const startedRows = rows.filter((r) => r.started !== null);
    const firstStart = startedRows.reduce(
      (min, r) => Math.min(min, Number(r.started)),
      Number.POSITIVE_INFINITY,
    );
    const lastFinish = drained ? rows.reduce((max, r) => Math.max(max, Number(r.finished ?? 0)), 0) : cutoff;
    const drainRate = (completed * 1000) / (lastFinish - firstStart);
    const slack = 2 * options.concurrency;
    const inStartOrder = rows.map((r) => Number(r.priority));
    const agingMs = priorityAgingMs(options);
    const inReleaseTerms = rows.map((r) => ({
      priority: Number(r.priority),
      createdMs: Number(r.created),
      releasedMs: r.released === null ? null : Number(r.released),
    }));
    const { count: outOfOrder, examples } = effectivePriorityInversions(
      inReleaseTerms,
      startedRows.length,
      slack,
      agingMs,
    );
    for (const example of examples) log(`backlog: out of effective order: ${example}`);
    const rawOutOfOrder = priorityInversions(inStartOrder, startedRows.length, slack);
    const strictInversions = priorityInversions(inStartOrder, startedRows.length, 0);
    // Only meaningful once the worker has stopped completing jobs.
    const trackerLagMs = drained ? await trackerCatchUp(bench, lastFinish) : null;
    log(
      `backlog: drained at ${round(drainRate)} jobs/s; max RSS ${JSON.stringify(rss)}; ${outOfOrder} out of effective priority order (${rawOutOfOrder} by submitted priority)`,
    );

    const rssRows: Row[] = (['gateway', 'worker', 'progress-tracker', 'metrics'] as const).map((name) => ({
      measure: `  max RSS ${name}`,
      value: round(rss[name] ?? Number.NaN),
      unit: 'MB',
      target: `≤ ${RSS_TARGET_MB}`,
      pass: atMost(rss[name] ?? Number.POSITIVE_INFINITY, RSS_TARGET_MB),
    }));
    const maxRss = Math.max(...Object.values(rss));
    // Ready messages are released-but-unclaimed ones: at most the window. Unacknowledged ones are
    // the jobs running (the worker acks when a job ends): at most its concurrency on top.
    const window = dispatchWindow(options, peakPerSecond(startedRows.map((r) => Number(r.started))));
    const ready = Math.max(
      heldBuilding.maxReady,
      heldDraining.maxReady,
      heldBuilding.maxReadyFast,
      heldDraining.maxReadyFast,
    );
    const held = Math.max(heldBuilding.maxHeld, heldDraining.maxHeld);
    // No rabbitmqctl sample of the queue at all would make 0 look like a pass.
    const sampled = heldBuilding.ctlSamples > 0 && heldDraining.ctlSamples > 0;
    log(
      `backlog: RabbitMQ held at most ${held} messages for ${workQueue}, ${ready} ready (window ${window})`,
    );
    return {
      name: 'backlog',
      rows: [
        {
          measure: `backlog of ${options.backlog}: drain rate${drained ? '' : ` (${completed} done in the ${options.drainSeconds} s cap)`}`,
          value: round(drainRate),
          unit: 'jobs/s',
          target: `≥ ${DRAIN_TARGET}`,
          pass: atLeast(drainRate, DRAIN_TARGET),
        },
        {
          measure: '  highest RSS of any service',
          value: round(maxRss),
          unit: 'MB',
          target: `≤ ${RSS_TARGET_MB}`,
          pass: atMost(maxRss, RSS_TARGET_MB),
        },
        {
          measure: '  most ready messages in RabbitMQ for the work queue',
          value: ready,
          unit: 'msgs',
          target: `≤ ${window} (window)`,
          pass: sampled ? atMost(ready, window) : null,
        },
        {
          measure: '  most messages RabbitMQ held for it (ready + unacked)',
          value: held,
          unit: 'msgs',
          target: `≤ ${window + options.concurrency} (+ running)`,
          pass: sampled ? atMost(held, window + options.concurrency) : null,
        },
        {
          measure: '    while the backlog was built (no consumer)',
          value: heldBuilding.maxHeld,
          unit: 'msgs',
          target: '',
          pass: null,
        },
        {
          measure: '    while it drained (one worker)',
          value: heldDraining.maxHeld,
          unit: 'msgs',
          target: '',
          pass: null,
        },
        ...rssRows,
        {
          measure: `  effective priority order (jobs out of order, ${slack}-start slack)`,
          value: outOfOrder,
          unit: 'jobs',
          target: '0',
          pass: outOfOrder === 0,
        },
        {
          measure: `    by submitted priority, aging ignored (${slack}-start slack)`,
          value: rawOutOfOrder,
          unit: 'jobs',
          target: '',
          pass: null,
        },
        {
          measure: '  enqueue rate while workers stopped',
          value: round(enqueueRate),
          unit: 'jobs/s',
          target: '',
          pass: null,
        },
      ],
      details: {
        jobs: options.backlog,
        completed,
        drained,
        drainCapSeconds: options.drainSeconds,
        attemptsPerJob: round(
          startedRows.reduce((sum, r) => sum + Number(r.attempts), 0) / Math.max(1, startedRows.length),
          3,
        ),
        enqueueMs: submitted.lastAckMs - submitted.firstSendMs,
        enqueueJobsPerSecond: round(enqueueRate),
        drainMs: Math.round(lastFinish - firstStart),
        drainJobsPerSecond: round(drainRate),
        maxRssMb: Object.fromEntries(Object.entries(rss).map(([k, v]) => [k, round(v)])),
        maxHeapMb: heapMax,
        outOfOrderWithSlack: outOfOrder,
        priorityAgingMs: agingMs,
        rawOutOfOrderWithSlack: rawOutOfOrder,
        slackStarts: slack,
        strictInversions,
        medianStartOffsetMsByPriority: medianStartByPriority(startedRows, firstStart),
        trackerCaughtUpAfterLastCompletionMs: trackerLagMs,
        workerPid: worker.pid,
        rabbitmqHeld: { window, building: heldBuilding, draining: heldDraining },
        cpu: cpuReport(cpuBefore, cpuAfter, completed, {
          'bench (its rabbitmqctl samples)': heldDraining.ctlCpuMs,
        }),
      },
    };
  } finally {
    await bench.destroy();
  }
}

/**
 * Started jobs for which some job of strictly higher priority started more than `slack`
 * positions later or had not started at all. `prioritiesInStartOrder` lists the `started` jobs
 * that started in start order, then the jobs that had not started (in any order).
 */
export function priorityInversions(
  prioritiesInStartOrder: readonly number[],
  started: number,
  slack: number,
): number {
  const n = prioritiesInStartOrder.length;
  const suffixMax = new Array<number>(n + 1).fill(-1);
  for (let i = n - 1; i >= 0; i--) suffixMax[i] = Math.max(suffixMax[i + 1], prioritiesInStartOrder[i]);
  let count = 0;
  for (let i = 0; i < started; i++) {
    const later = suffixMax[Math.min(n, i + slack + 1)];
    if (later > prioritiesInStartOrder[i]) count += 1;
  }
  return count;
}

/** A job of the backlog for effectivePriorityInversions, in start order. */
export interface ReleasedBacklogJob {
  priority: number;
  createdMs: number;
  /** When it was (last) released; null when it never was. */
  releasedMs: number | null;
}

/**
 * Started jobs for which, at the moment they were released, some job that started more than
 * `slack` positions later (or had not started at all) had a strictly higher effective priority:
 * min(9, priority + floor(waited / agingMs)), agingMs 0 = no aging. `jobs` lists the started
 * jobs in start order, then the jobs that had not started. At a time t, a job's effective priority
 * before the cap is floor(t / agingMs + priority − created / agingMs), so the highest among a set
 * of jobs is that of the one with the highest `priority − created / agingMs`: one suffix maximum.
 * Returns their number and the first `examplesMax` of them described for the log.
 */
export function effectivePriorityInversions(
  jobs: readonly ReleasedBacklogJob[],
  started: number,
  slack: number,
  agingMs: number,
  examplesMax = 3,
): { count: number; examples: string[] } {
  if (agingMs <= 0)
    return {
      count: priorityInversions(
        jobs.map((j) => j.priority),
        started,
        slack,
      ),
      examples: [],
    };
  const n = jobs.length;
  // Times relative to the oldest job, in aging intervals (keeps the floating point small).
  const origin = jobs.reduce((min, j) => Math.min(min, j.createdMs), Number.POSITIVE_INFINITY);
  const firstRelease = jobs.reduce(
    (min, j) => Math.min(min, j.releasedMs ?? Number.POSITIVE_INFINITY),
    Number.POSITIVE_INFINITY,
  );
  const key = (j: ReleasedBacklogJob) => j.priority - (j.createdMs - origin) / agingMs;
  const effectiveAt = (k: number, t: number) => Math.min(MAX_PRIORITY, Math.floor(t + k));
  // The index of the job with the highest key from each position on (-1 past the end).
  const suffixArg = new Array<number>(n + 1).fill(-1);
  for (let i = n - 1; i >= 0; i--) {
    const best = suffixArg[i + 1] ?? -1;
    suffixArg[i] = best < 0 || key(jobs[i]) > key(jobs[best]) ? i : best;
  }
  let count = 0;
  const examples: string[] = [];
  for (let i = 0; i < started; i++) {
    const job = jobs[i];
    const laterIndex = suffixArg[Math.min(n, i + slack + 1)] ?? -1;
    if (job.releasedMs === null || laterIndex < 0) continue;
    const later = jobs[laterIndex];
    const t = (job.releasedMs - origin) / agingMs;
    if (effectiveAt(key(later), t) <= effectiveAt(key(job), t)) continue;
    count += 1;
    // Evidence for the log (not part of any figure): the job, and the later-started job that
    // outranked it when it was released.
    if (examples.length >= examplesMax) continue;
    const sinceFirstRelease = (ms: number) =>
      `${ms >= firstRelease ? '+' : ''}${Math.round(ms - firstRelease)} ms`;
    const describe = (j: ReleasedBacklogJob, at: number) =>
      `start #${at}${at >= started ? ' (not started)' : ''}, priority ${j.priority}, effective ${effectiveAt(key(j), t)}, ` +
      `created ${sinceFirstRelease(j.createdMs)}, released ${j.releasedMs === null ? 'never' : sinceFirstRelease(j.releasedMs)}`;
    examples.push(`${describe(job, i)} ahead of ${describe(later, laterIndex)}`);
  }
  return { count, examples };
}

/** PRIORITY_AGING_MS of the run: --env when set, else the default (SPEC: 60,000). */
export function priorityAgingMs(options: BenchOptions): number {
  const configured = options.serviceEnv['PRIORITY_AGING_MS'];
  return configured === undefined ? DEFAULT_PRIORITY_AGING_MS : Number(configured);
}

function medianStartByPriority(
  rows: { priority: number; started: number | null }[],
  origin: number,
): Record<string, number> {
  const by = new Map<number, number[]>();
  for (const r of rows) {
    const list = by.get(Number(r.priority)) ?? [];
    list.push(Number(r.started) - origin);
    by.set(Number(r.priority), list);
  }
  const result: Record<string, number> = {};
  for (const p of [...by.keys()].sort((a, b) => b - a)) {
    const list = by.get(p)!;
    result[String(p)] = Math.round(list[Math.floor(list.length / 2)]);
  }
  return result;
}

/**
 * The dispatch window RabbitMQ may hold for the work queue: DISPATCH_WINDOW when the run sets it
 * (--env), else the automatic one for one worker (the gateway's own rule): 2 × consumers × prefetch
 * with the worker's prefetch = WORKER_CONCURRENCY (2 × prefetch while no consumer is there), or
 * 100 ms of the start rate when that is more — here the highest starts in any second of the drain.
 */
export function dispatchWindow(options: BenchOptions, peakStartsPerSecond: number): number {
  const configured = Number(options.serviceEnv['DISPATCH_WINDOW'] ?? 0);
  if (configured > 0) return configured;
  return Math.max(automaticWindow(1, options.concurrency), rateWindow(peakStartsPerSecond));
}

/** The most of these start times (ms) in any one second (by the second of the clock, as the dispatcher counts). */
export function peakPerSecond(times: number[]): number {
  const perSecond = new Map<number, number>();
  for (const t of times) perSecond.set(Math.floor(t / 1000), (perSecond.get(Math.floor(t / 1000)) ?? 0) + 1);
  return Math.max(0, ...perSecond.values());
}

/** Waits until PostgreSQL holds the whole backlog as `queued` and the tracker's queue is empty. */
async function waitForBacklog(bench: BenchStack, tag: string, backlog: number): Promise<void> {
  const connection = await connect(TEST_SERVICES.amqp);
  try {
    const channel = await connection.createChannel();
    await waitFor(
      async () => {
        const { rows } = await bench.db.query<{ n: string }>(
          `SELECT count(*) AS n FROM jobs WHERE metadata->>'bench' = $1 AND status = 'queued'`,
          [tag],
        );
        const tracker = await channel.checkQueue(`${bench.id}.tracker`);
        return Number(rows[0]?.n ?? 0) >= backlog && tracker.messageCount === 0;
      },
      { timeoutMs: 300000, intervalMs: 500, what: 'the backlog to be in PostgreSQL and projected' },
    );
    await channel.close();
  } finally {
    await connection.close();
  }
}
