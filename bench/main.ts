import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  BenchStack,
  benchEnv,
  benchServiceEnv,
  jestProcesses,
  LOG_SUMMARIES,
  machineInfo,
  ROOT,
  SERVICE_PIDS,
  tenantsFor,
  type BenchOptions,
} from './harness';
import { tracingRequested } from '@switchyard/observability';
import { formatProfiles, summariseProfiles, type ProfileSummary } from './profile';
import { audio } from './scenarios/audio';
import { backlog } from './scenarios/backlog';
import { flows } from './scenarios/flows';
import { fairness } from './scenarios/fairness';
import { bullmq, RATIO_TARGET } from './scenarios/bullmq';
import { graphile } from './scenarios/graphile';
import { startLatency } from './scenarios/start-latency';
import { submitLatency } from './scenarios/submit-latency';
import { throughput } from './scenarios/throughput';
import type { Row, ScenarioContext, ScenarioResult } from './scenarios/types';

export const SCENARIOS = [
  'start-latency',
  'submit-latency',
  'throughput',
  'bullmq',
  'graphile',
  'audio',
  'flows',
  'fairness',
  'backlog',
] as const;
type ScenarioName = (typeof SCENARIOS)[number];

const USAGE = `npm run bench [-- options]

  --jobs N            jobs in each throughput, BullMQ and Graphile Worker run (default 20000; BENCH_JOBS)
  --repeat N          runs of throughput, BullMQ and Graphile Worker each; the median is reported
                      with the min–max (default 1; use 3+ to compare two commits)
  --warmup N          jobs of one unmeasured run before the throughput, BullMQ and Graphile Worker
                      runs, on the same services and workers (default 2000; 0: none)
  --timeline          print each throughput run's jobs created / started / finished per 500 ms
  --backlog N         jobs in the backlog run (default 100000; BENCH_BACKLOG)
  --drain-seconds N   measure the backlog's drain for at most N s (default 120)
  --submitters N      concurrent batch submitters (default 4)
  --batch N           jobs per POST /jobs/batch (default 100, the SPEC's BATCH_MAX_ITEMS)
  --concurrency N     WORKER_CONCURRENCY, and the peers' concurrency (default 8, the SPEC default)
  --rate N            submit-latency requests per second (default 300)
  --seconds N         submit-latency duration of each run (default 20)
  --latency-runs N    submit-latency runs; p99 is the median of them (default 3)
  --start-samples N   start-latency jobs (default 300)
  --audio-files N     audio.analyze files (default 300)
  --only a,b          run only these scenarios: ${SCENARIOS.join(', ')}
  --env KEY=VALUE     extra service environment, repeatable (experiments: WORKER_CONCURRENCY=32,
                      TRACKER_BATCH_SIZE=1000, …); recorded in the results
  --profile           sample the services with the V8 CPU profiler and print their top self-time functions
                      (profiling slows them down: do not report figures from a profiled run)
  --quick             small sizes for a smoke run (jobs 2000, backlog 5000, 5 s latency)
  --no-build          skip building the services (dist/ must be current)
`;

const write = (text: string) => process.stdout.write(`${text}\n`);
const log = (text: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}\n`);

export function parseOptions(argv: string[]): BenchOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      jobs: { type: 'string' },
      repeat: { type: 'string' },
      'latency-runs': { type: 'string' },
      warmup: { type: 'string' },
      timeline: { type: 'boolean' },
      backlog: { type: 'string' },
      'drain-seconds': { type: 'string' },
      submitters: { type: 'string' },
      batch: { type: 'string' },
      concurrency: { type: 'string' },
      rate: { type: 'string' },
      seconds: { type: 'string' },
      'start-samples': { type: 'string' },
      'audio-files': { type: 'string' },
      only: { type: 'string' },
      env: { type: 'string', multiple: true },
      profile: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    write(USAGE);
    return undefined;
  }
  const env = process.env;
  const quick = values.quick ?? false;
  const int = (raw: string | undefined, fallback: number, name: string) => {
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer (got ${raw})`);
    return n;
  };
  const only =
    values.only
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean) ?? null;
  for (const name of only ?? []) {
    if (!(SCENARIOS as readonly string[]).includes(name))
      throw new Error(`unknown scenario ${name}; one of ${SCENARIOS.join(', ')}`);
  }
  const serviceEnv: Record<string, string> = {};
  for (const pair of values.env ?? []) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new Error(`--env takes KEY=VALUE (got ${pair})`);
    serviceEnv[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const started = new Date().toISOString().replace(/[:.]/g, '-');
  return {
    jobs: int(values.jobs ?? env['BENCH_JOBS'], quick ? 2000 : 20000, '--jobs'),
    repeat: int(values.repeat, 1, '--repeat'),
    latencyRuns: int(values['latency-runs'], 3, '--latency-runs'),
    warmup: int(values.warmup, quick ? 200 : 2000, '--warmup'),
    timeline: values.timeline ?? false,
    backlog: int(values.backlog ?? env['BENCH_BACKLOG'], quick ? 5000 : 100000, '--backlog'),
    drainSeconds: int(values['drain-seconds'], 120, '--drain-seconds'),
    submitters: int(values.submitters, 4, '--submitters'),
    batchSize: int(values.batch, 100, '--batch'),
    concurrency: int(values.concurrency, 8, '--concurrency'),
    latencyRate: int(values.rate, 300, '--rate'),
    latencySeconds: int(values.seconds, quick ? 5 : 20, '--seconds'),
    startSamples: int(values['start-samples'], quick ? 100 : 300, '--start-samples'),
    audioFiles: int(values['audio-files'], quick ? 100 : 300, '--audio-files'),
    only,
    serviceEnv,
    profile: values.profile ?? false,
    profileDir: join(ROOT, 'tmp', `bench-profile-${started}`),
  };
}

/**
 * Switchyard's throughput ÷ each peer's, from the medians of the same run of the bench (same job
 * count, concurrency and submission batches); undefined when throughput was not measured.
 */
function compare(results: ScenarioResult[]): ScenarioResult | undefined {
  const rate = (name: string) => {
    const value = results.find((r) => r.name === name)?.details['jobsPerSecond'];
    return typeof value === 'number' && value > 0 ? value : undefined;
  };
  const switchyard = rate('throughput');
  if (switchyard === undefined) return undefined;
  const ratio = (peer: string) => {
    const theirs = rate(peer);
    return theirs === undefined ? undefined : Math.round((switchyard / theirs) * 1000) / 1000;
  };
  const bull = ratio('bullmq');
  const gw = ratio('graphile');
  return {
    name: 'comparison',
    rows: [
      {
        measure: 'Switchyard ÷ BullMQ throughput',
        value: bull ?? 'not measured',
        unit: '×',
        target: `≥ ${RATIO_TARGET}`,
        pass: bull === undefined ? null : bull >= RATIO_TARGET,
      },
      {
        measure: 'Switchyard ÷ Graphile Worker throughput (durable peer; aim ≥ 1.0)',
        value: gw ?? 'not measured',
        unit: '×',
        target: '',
        pass: null,
      },
    ],
    details: {
      switchyardJobsPerSecond: switchyard,
      bullmqJobsPerSecond: rate('bullmq') ?? null,
      graphileJobsPerSecond: rate('graphile') ?? null,
      switchyardOverBullmq: bull ?? null,
      switchyardOverGraphile: gw ?? null,
    },
  };
}

function formatTable(rows: Row[]): string {
  const header = ['measure', 'value', 'target', 'result'];
  const cells = rows.map((r) => [
    r.measure,
    `${typeof r.value === 'number' && Number.isNaN(r.value) ? '—' : r.value}${r.unit && typeof r.value === 'number' ? ` ${r.unit}` : ''}`,
    r.target ? `${r.target} ${r.unit}`.trim() : '',
    r.pass === null ? '' : r.pass ? 'pass' : 'MISS',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) =>
    `| ${c.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join(' | ')} |`;
  return [
    line(header),
    `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
    ...cells.map(line),
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const options = parseOptions(argv);
  if (!options) return 0;
  const wanted = (name: ScenarioName) => options.only === null || options.only.includes(name);
  const startedAt = new Date();
  const machine = await machineInfo();
  log(
    `machine: ${String(machine['cpus'])} CPUs, ${String(machine['memoryTotalMb'])} MB, load ${JSON.stringify(machine['loadAverage'])}, ${String(machine['jestProcesses'])} jest processes running`,
  );
  if (options.profile) await mkdir(options.profileDir, { recursive: true });
  log(
    `NODE_OPTIONS by service: ${Object.entries(benchServiceEnv(options))
      .map(([name, env]) => `${name} "${env['NODE_OPTIONS'].replace(`${ROOT}/`, '')}"`)
      .join(', ')}`,
  );

  let shared: BenchStack | undefined;
  const ctx: ScenarioContext = {
    options,
    log,
    stack: async () => {
      if (!shared) {
        log('starting gateway, worker, progress-tracker and metrics (production build, LOG_LEVEL=warn)');
        shared = await BenchStack.start(options);
      }
      return shared;
    },
  };
  const results: ScenarioResult[] = [];
  const jestSeen: number[] = [];
  const runScenario = async (name: ScenarioName, fn: () => Promise<ScenarioResult>) => {
    if (!wanted(name)) return;
    jestSeen.push(await jestProcesses());
    const t0 = Date.now();
    try {
      const result = await fn();
      result.details['wallMs'] = Date.now() - t0;
      results.push(result);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log(`${name} failed: ${message}`);
      results.push({
        name,
        rows: [{ measure: `${name}: error`, value: message.slice(0, 80), unit: '', target: '', pass: false }],
        details: { error: message, wallMs: Date.now() - t0 },
      });
    }
    jestSeen.push(await jestProcesses());
  };

  try {
    await runScenario('start-latency', () => startLatency(ctx));
    await runScenario('submit-latency', () => submitLatency(ctx));
    await runScenario('throughput', () => throughput(ctx));
    await runScenario('audio', () => audio(ctx));
    await runScenario('flows', () => flows(ctx));
    await runScenario('fairness', () => fairness(ctx));
  } finally {
    await shared?.destroy();
  }
  // The peers in a window of their own: Switchyard's services are stopped by now.
  await runScenario('bullmq', () => bullmq(ctx));
  await runScenario('graphile', () => graphile(ctx));
  const comparison = compare(results);
  if (comparison) results.splice(results.findIndex((r) => r.name === 'throughput') + 1, 0, comparison);
  await runScenario('backlog', () => backlog(ctx));

  let profiles: ProfileSummary[] = [];
  if (options.profile) profiles = await summariseProfiles(options.profileDir, SERVICE_PIDS);

  const finishedAt = new Date();
  const rows = results.flatMap((r) => r.rows);
  const otherCpu = results
    .map((r) => r.details['cpu'] as { cpuMs?: Record<string, number>; wallMs?: number } | undefined)
    .filter((c): c is { cpuMs: Record<string, number>; wallMs: number } => Boolean(c?.cpuMs && c.wallMs));
  const otherPercent = otherCpu.length
    ? Math.round(
        (otherCpu.reduce((s, c) => s + (c.cpuMs['other processes'] ?? 0), 0) /
          otherCpu.reduce((s, c) => s + c.wallMs * Number(machine['cpus']), 0)) *
          1000,
      ) / 10
    : null;
  const machineShared = Math.max(0, ...jestSeen) > 0 || (otherPercent !== null && otherPercent > 5);
  const report = {
    version: 1,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationS: Math.round((finishedAt.getTime() - startedAt.getTime()) / 1000),
    options: { ...options, profileDir: options.profile ? options.profileDir : undefined },
    machine: { ...machine, loadAverageAfter: loadavg().map((l) => Math.round(l * 100) / 100) },
    machineShared,
    sharing: { jestProcessesSeen: Math.max(0, ...jestSeen), otherProcessesCpuPercentOfMachine: otherPercent },
    tenants: tenantsFor(options),
    // The services get only the bench's environment: tracing is on only when --env sets the exporter.
    tracing: tracingRequested(options.serviceEnv) ? 'on' : 'off',
    serviceEnvironment: {
      ...benchEnv(options, '<random>'),
      BENCH_PROFILE_DIR: undefined,
    },
    // Per service (the production NODE_OPTIONS of each, see benchServiceEnv).
    serviceEnvironmentByService: Object.fromEntries(
      Object.entries(benchServiceEnv(options)).map(([name, env]) => [
        name,
        { NODE_OPTIONS: env['NODE_OPTIONS'].replace(`${ROOT}/`, '') },
      ]),
    ),
    rows,
    scenarios: Object.fromEntries(results.map((r) => [r.name, r.details])),
    serviceLogs: LOG_SUMMARIES,
    profiles,
  };
  const dir = join(ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);

  write('');
  write(formatTable(rows));
  write('');
  write(
    `${String(machine['cpus'])} CPUs (${String(machine['cpuModel'])}), ${String(machine['memoryTotalMb'])} MB; Node ${process.version}, PostgreSQL ${String(machine['postgres'])}, RabbitMQ ${String(machine['rabbitmq'])}, Redis ${String(machine['redis'])}`,
  );
  write(
    `load average before ${JSON.stringify(machine['loadAverage'])}, after ${JSON.stringify(report.machine.loadAverageAfter)}; ` +
      `other processes used ${otherPercent ?? '?'} % of the machine's CPU during the measured windows` +
      `${machineShared ? ' — the machine was SHARED during this run' : ''}`,
  );
  write(
    `tracing ${report.tracing} (an OTLP endpoint ${report.tracing === 'on' ? 'set with --env' : 'not given to the services'}); repeat ${options.repeat}, submit-latency runs ${options.latencyRuns}`,
  );
  write(`results: ${file.slice(ROOT.length + 1)} (${report.durationS} s)`);
  if (options.profile)
    write(
      `CPU profiles (open in Chrome DevTools or speedscope): ${options.profileDir.slice(ROOT.length + 1)}`,
    );
  if (profiles.length) write(formatProfiles(profiles));
  return rows.some((r) => r.pass === false && r.measure.endsWith(': error')) ? 1 : 0;
}
