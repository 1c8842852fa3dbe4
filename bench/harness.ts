import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { cpus, loadavg, totalmem, availableParallelism } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import { Client } from 'pg';
import { productionNodeOptions } from '@switchyard/config';
import {
  TestStack,
  TEST_SERVICES,
  waitFor,
  type ServiceName,
  type ServiceProcess,
} from '@switchyard/testing';
import { BenchHttp, retryAfterMs } from './http';
import { PgBackendCpu } from './pg-cpu';
import { sleep } from './stats';

const run = promisify(execFile);

export const ROOT = join(__dirname, '..');
const CLOCK_TICKS = 100; // getconf CLK_TCK on Linux

/** What the services of each stack logged, for the results file. */
export const LOG_SUMMARIES: {
  stack: string;
  services: Record<string, { lines: number; first: string[] }>;
}[] = [];

/** Every service process this run started: pid → service name (to label CPU profiles). */
export const SERVICE_PIDS = new Map<number, string>();

export interface BenchOptions {
  /** Jobs for each throughput run and each run of the peers (BullMQ, Graphile Worker). */
  jobs: number;
  /** Runs of throughput and of each peer (median and min–max reported). */
  repeat: number;
  /** Submit-latency runs (p99 = the median of the runs' p99s). */
  latencyRuns: number;
  /** Jobs of the unmeasured run before the throughput, BullMQ and Graphile Worker runs (0: none). */
  warmup: number;
  /** Print each throughput run's jobs created / started / finished per 500 ms. */
  timeline: boolean;
  /** Concurrent batch submitters. */
  submitters: number;
  batchSize: number;
  /** Jobs in the backlog scenario. */
  backlog: number;
  /** The backlog's drain is measured for at most this long. */
  drainSeconds: number;
  latencyRate: number;
  latencySeconds: number;
  startSamples: number;
  audioFiles: number;
  /** WORKER_CONCURRENCY of the Switchyard worker, and the peers' concurrency. */
  concurrency: number;
  only: string[] | null;
  /** Extra service environment (--env), applied last. */
  serviceEnv: Record<string, string>;
  profile: boolean;
  profileDir: string;
}

/**
 * Service environment of every bench stack: production mode with a random bootstrap admin key,
 * logs at `warn` so that per-job info lines stay out of the measurement. Every limit keeps its
 * SPEC default (the load is spread over many tenants' keys instead, see `tenantsFor`), except the
 * queue depth: QUEUE_MAX_DEPTH's default of 10,000 would refuse the SPEC's 100,000-job backlog
 * with `queue_full`, so it is raised to twice the backlog (warning level at 80 % of it).
 */
export function benchEnv(options: BenchOptions, adminKey: string): Record<string, string> {
  const depth = Math.max(10000, 2 * options.backlog, 2 * options.jobs);
  return {
    NODE_ENV: 'production',
    ADMIN_API_KEY: adminKey,
    LOG_LEVEL: 'warn',
    WORKER_CONCURRENCY: String(options.concurrency),
    QUEUE_MAX_DEPTH: String(depth),
    QUEUE_WARN_DEPTH: String(Math.round(depth * 0.8)),
    ...(options.profile ? { BENCH_PROFILE_DIR: options.profileDir } : {}),
    ...options.serviceEnv,
  };
}

/**
 * Each service's NODE_OPTIONS: the production image's for that service (libs/config's
 * `productionNodeOptions`, which docker-compose.yaml and the Dockerfile mirror), so the bench
 * measures the heap settings production runs; with --profile the CPU profiler is preloaded
 * after them. `--env NODE_OPTIONS=…` replaces them for every service (an experiment).
 */
export function benchServiceEnv(options: BenchOptions): Record<ServiceName, Record<string, string>> {
  const profiler = options.profile ? ` --require ${join(ROOT, 'bench', 'cpu-profile.cjs')}` : '';
  const given = options.serviceEnv['NODE_OPTIONS'];
  const of = (name: ServiceName) => ({
    NODE_OPTIONS: `${given ?? productionNodeOptions(name)}${profiler}`.trim(),
  });
  return {
    gateway: of('gateway'),
    worker: of('worker'),
    'progress-tracker': of('progress-tracker'),
    metrics: of('metrics'),
  };
}

/** SPEC defaults the load has to stay within, per tenant and per key. */
const TENANT_MAX_ACTIVE_JOBS = 1000;
const RATE_LIMIT_WRITE_PER_SECOND = 600 / 60;

/**
 * How many tenants (one API key each) the load is spread over: enough that no tenant reaches
 * 70 % of its active-job quota even if the whole backlog or throughput run is queued at once,
 * and that 300 single POSTs a second stay under a third of each key's write rate.
 */
export function tenantsFor(options: BenchOptions): number {
  const queued = Math.max(options.backlog, options.jobs);
  return Math.max(
    16,
    Math.ceil(queued / (0.7 * TENANT_MAX_ACTIVE_JOBS)) + 8,
    Math.ceil((3 * options.latencyRate) / RATE_LIMIT_WRITE_PER_SECOND),
  );
}

/** Kernel figures of one process: resident set now and at its peak, CPU time used so far. */
export interface ProcessSample {
  rssMb: number;
  hwmMb: number;
  cpuMs: number;
}

export function sampleProcess(pid: number): ProcessSample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024, cpuMs: (ticks * 1000) / CLOCK_TICKS };
  } catch {
    return undefined; // the process has exited
  }
}

/** The four services (and any extra worker) of one isolated stack, with a client and a database handle. */
export class BenchStack {
  private readonly rssMax = new Map<string, number>();
  private sampler: NodeJS.Timeout | undefined;
  private pgSampler: NodeJS.Timeout | undefined;

  private constructor(
    readonly stack: TestStack,
    readonly http: BenchHttp,
    readonly db: Client,
    readonly adminKey: string,
    /** CPU of this database's PostgreSQL backends (the bench's own connection booked apart). */
    readonly pgCpu: PgBackendCpu,
  ) {}

  static async start(options: BenchOptions, services?: ServiceName[]): Promise<BenchStack> {
    const adminKey = `sy_bench_${randomBytes(24).toString('hex')}`;
    const stack = await TestStack.create(benchEnv(options, adminKey), benchServiceEnv(options));
    try {
      await stack.start(services);
    } catch (error) {
      await stack.destroy();
      throw error;
    }
    const db = new Client({ connectionString: stack.db.url, application_name: 'bench' });
    await db.connect();
    const http = new BenchHttp(stack.service('gateway').url, adminKey);
    const bench = new BenchStack(stack, http, db, adminKey, await PgBackendCpu.of(db));
    bench.startSampling();
    try {
      http.useKeys(await createTenantKeys(http, tenantsFor(options)));
    } catch (error) {
      await bench.destroy();
      throw error;
    }
    return bench;
  }

  get id(): string {
    return this.stack.id;
  }

  /** Every service process started so far, labelled by service name (extra workers included). */
  processes(): { name: ServiceName; process: ServiceProcess }[] {
    return [...this.stack.services.values(), ...this.stack.extra].map((p) => ({ name: p.name, process: p }));
  }

  /** Samples every service's RSS every 250 ms; `maxRss()` is the highest seen (or VmHWM, if higher). */
  private startSampling(): void {
    const tick = () => {
      for (const { name, process } of this.processes()) {
        if (process.pid !== undefined) SERVICE_PIDS.set(process.pid, name);
        const sample = process.pid === undefined ? undefined : sampleProcess(process.pid);
        if (!sample) continue;
        this.rssMax.set(name, Math.max(this.rssMax.get(name) ?? 0, sample.rssMb, sample.hwmMb));
      }
    };
    tick();
    this.sampler = setInterval(tick, 250);
    this.sampler.unref();
    this.pgSampler = setInterval(() => void this.pgCpu.sample(), 500);
    this.pgSampler.unref();
  }

  /**
   * With --profile: starts each service's CPU profiler (bench/cpu-profile.cjs listens for
   * SIGUSR2), so the profile covers the measured window and not the start-up.
   */
  startProfiling(options: BenchOptions): void {
    if (!options.profile) return;
    for (const { process: service } of this.processes()) {
      if (service.pid === undefined) continue;
      try {
        process.kill(service.pid, 'SIGUSR2');
      } catch {
        // Gone meanwhile (a scenario stopped it): nothing to profile.
      }
    }
  }

  /**
   * Samples each service's V8 heap (used, total) and external memory from its /metrics (the
   * prom-client default metrics) every `intervalMs` until the returned stop function is called;
   * it resolves to the highest values seen per service, in MB.
   */
  sampleHeaps(intervalMs = 2000): () => Promise<Record<string, Record<string, number>>> {
    const max: Record<string, Record<string, number>> = {};
    const names = [
      'nodejs_heap_size_used_bytes',
      'nodejs_heap_size_total_bytes',
      'nodejs_external_memory_bytes',
    ];
    const tick = async () => {
      await Promise.all(
        this.processes().map(async ({ name, process }) => {
          try {
            const text = await (await fetch(`${process.url}/metrics`)).text();
            const entry = (max[name] ??= {});
            for (const metric of names) {
              const value = new RegExp(`^${metric}(?:\\{[^}]*\\})? ([0-9.e+]+)`, 'm').exec(text)?.[1];
              if (value === undefined) continue;
              const key = metric.replace('nodejs_', '').replace('_bytes', 'Mb');
              entry[key] = Math.max(entry[key] ?? 0, Math.round((Number(value) / 2 ** 20) * 10) / 10);
            }
          } catch {
            // stopped or busy: skip this sample
          }
        }),
      );
    };
    let running = true;
    const loop = (async () => {
      while (running) {
        await tick();
        await sleep(intervalMs);
      }
    })();
    return async () => {
      running = false;
      await loop;
      return max;
    };
  }

  /** Highest RSS per service since `resetRss()`, in MB. */
  maxRss(): Record<string, number> {
    return Object.fromEntries(this.rssMax);
  }

  resetRss(): void {
    this.rssMax.clear();
  }

  /** CPU time used so far by each service and by the PostgreSQL backends of this stack's database. */
  async cpuSnapshot(): Promise<Record<string, number>> {
    const totals: Record<string, number> = {};
    for (const { name, process } of this.processes()) {
      const sample = process.pid === undefined ? undefined : sampleProcess(process.pid);
      if (sample) totals[name] = (totals[name] ?? 0) + sample.cpuMs;
    }
    await this.pgCpu.sample();
    totals['postgres (this database)'] = this.pgCpu.servicesMs;
    for (const [label, pattern] of [
      ['rabbitmq (whole broker)', 'beam.smp'],
      ['redis (whole server)', 'redis-server'],
    ] as const) {
      const pids = await pidsOf(pattern);
      totals[label] = pids.reduce((sum, pid) => sum + (sampleProcess(pid)?.cpuMs ?? 0), 0);
    }
    return totals;
  }

  /** Per-table row counts written in this stack's database (pg_stat_user_tables) and its transactions. */
  async writeCounters(): Promise<Record<string, number>> {
    // Statistics are sent by backends asynchronously; a fresh snapshot is requested first.
    await this.db.query('SELECT pg_stat_clear_snapshot()');
    const tables = await this.db.query<{ relname: string; ins: string; upd: string; del: string }>(
      `SELECT relname, n_tup_ins AS ins, n_tup_upd AS upd, n_tup_del AS del FROM pg_stat_user_tables
       WHERE relname IN ('jobs', 'job_events', 'outbox')`,
    );
    const counters: Record<string, number> = {};
    for (const t of tables.rows) {
      counters[`${t.relname}.inserted`] = Number(t.ins);
      counters[`${t.relname}.updated`] = Number(t.upd);
      counters[`${t.relname}.deleted`] = Number(t.del);
    }
    const xact = await this.db.query<{ commits: string }>(
      `SELECT xact_commit AS commits FROM pg_stat_database WHERE datname = current_database()`,
    );
    counters['transactions'] = Number(xact.rows[0]?.commits ?? 0);
    return counters;
  }

  /**
   * Whether any job is queued, running or retrying. One probe of each status's partial index
   * (`jobs_backlog`, `jobs_released`, `jobs_active_lease`, `jobs_retry_due`) that stops at the
   * first entry: cheap whatever the number of jobs, unlike a `count(*)` over them. It runs on the
   * bench's own connection, whose backend CPU is booked to the bench (`PgBackendCpu`).
   */
  async hasActive(): Promise<boolean> {
    const { rows } = await this.db.query<{ active: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM jobs WHERE status = 'queued' AND dispatched_at IS NULL)
           OR EXISTS (SELECT 1 FROM jobs WHERE status = 'queued' AND dispatched_at IS NOT NULL)
           OR EXISTS (SELECT 1 FROM jobs WHERE status = 'running')
           OR EXISTS (SELECT 1 FROM jobs WHERE status = 'retrying') AS active`,
    );
    return rows[0]?.active ?? true;
  }

  /** Waits until no job is queued, running or retrying (polled every `intervalMs`, 500 ms by default). */
  async waitForDrain(timeoutMs: number, intervalMs = 500): Promise<void> {
    await waitFor(async () => !(await this.hasActive()), {
      timeoutMs,
      intervalMs,
      what: 'every job to finish',
    });
  }

  /** Log lines each service wrote (at LOG_LEVEL=warn: warnings and errors), with the first few. */
  readonly logSummary: Record<string, { lines: number; first: string[] }> = {};

  /** Stops every process (profiles are written on a graceful exit), then removes the stack's data. */
  async destroy(): Promise<void> {
    clearInterval(this.sampler);
    clearInterval(this.pgSampler);
    await this.pgCpu.sample();
    for (const { name, process } of this.processes())
      if (process.pid !== undefined) SERVICE_PIDS.set(process.pid, name);
    this.http.close();
    await this.db.end().catch(() => undefined);
    await this.stack.destroy();
    for (const { name, process } of this.processes()) {
      const entry = (this.logSummary[name] ??= { lines: 0, first: [] });
      entry.lines += process.lines.length;
      entry.first.push(...process.lines.slice(0, 3 - entry.first.length).map((l) => l.slice(0, 300)));
    }
    LOG_SUMMARIES.push({ stack: this.stack.id, services: this.logSummary });
    await rm(join(ROOT, 'tmp', this.stack.id), { recursive: true, force: true });
  }
}

/** One key with jobs:read and jobs:write for each of `count` tenants (bench-0, bench-1, …). */
async function createTenantKeys(http: BenchHttp, count: number): Promise<string[]> {
  const keys: string[] = [];
  for (let i = 0; i < count; i += 16) {
    const created = await Promise.all(
      Array.from({ length: Math.min(16, count - i) }, async (_, k) => {
        const response = await http.request<{ key?: string }>(
          'POST',
          '/admin/api-keys',
          {
            tenant: `bench-${i + k}`,
            name: 'bench',
            scopes: ['jobs:read', 'jobs:write'],
          },
          http.adminKey,
        );
        if (response.status !== 201 || !response.body.key) {
          throw new Error(
            `POST /admin/api-keys answered ${response.status}: ${JSON.stringify(response.body)}`,
          );
        }
        return response.body.key;
      }),
    );
    keys.push(...created);
  }
  return keys;
}

async function pidsOf(pattern: string): Promise<number[]> {
  try {
    const { stdout } = await run('pgrep', ['-f', pattern]);
    return stdout
      .split('\n')
      .map(Number)
      .filter((n) => n > 0);
  } catch {
    return [];
  }
}

export interface SubmitStats {
  batches: number;
  jobs: number;
  retried: number;
  firstSendMs: number;
  lastAckMs: number;
  ids: string[];
}

/**
 * Submits `total` jobs through POST /jobs/batch with `submitters` concurrent loops, each sending
 * the next batch as soon as its previous one was answered. 429/503 answers wait Retry-After and
 * send the same batch again (counted in `retried`).
 */
export async function submitBatches(
  http: BenchHttp,
  total: number,
  batchSize: number,
  submitters: number,
  item: (index: number) => Record<string, unknown>,
): Promise<SubmitStats> {
  const stats: SubmitStats = {
    batches: 0,
    jobs: 0,
    retried: 0,
    firstSendMs: Date.now(),
    lastAckMs: 0,
    ids: [],
  };
  let next = 0;
  const loop = async () => {
    for (;;) {
      const start = next;
      if (start >= total) return;
      next = Math.min(total, start + batchSize);
      const jobs = [];
      for (let i = start; i < next; i++) jobs.push(item(i));
      for (;;) {
        const response = await http.post<{ jobs?: { id: string }[] }>('/jobs/batch', { jobs });
        if (response.status === 202 && response.body.jobs) {
          for (const job of response.body.jobs) stats.ids.push(job.id);
          stats.batches += 1;
          stats.jobs += jobs.length;
          stats.lastAckMs = Date.now();
          break;
        }
        if (response.status === 429 || response.status === 503) {
          stats.retried += 1;
          await sleep(retryAfterMs(response));
          continue;
        }
        throw new Error(
          `POST /jobs/batch answered ${response.status}: ${JSON.stringify(response.body).slice(0, 500)}`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: submitters }, loop));
  return stats;
}

/** Does the gateway have POST /jobs/batch? (404 when the route does not exist.) */
export async function hasBatchRoute(http: BenchHttp): Promise<boolean> {
  const response = await http.post('/jobs/batch', { jobs: [] });
  return response.status !== 404;
}

/**
 * Submits through concurrent single POST /jobs when the batch route is missing (same shape of
 * result), `submitters × batchSize` requests in flight.
 */
export async function submitSingles(
  http: BenchHttp,
  total: number,
  inFlight: number,
  item: (index: number) => Record<string, unknown>,
): Promise<SubmitStats> {
  const stats: SubmitStats = {
    batches: 0,
    jobs: 0,
    retried: 0,
    firstSendMs: Date.now(),
    lastAckMs: 0,
    ids: [],
  };
  let next = 0;
  const loop = async () => {
    while (next < total) {
      const index = next++;
      for (;;) {
        const response = await http.post<{ id: string }>('/jobs', { ...item(index), dedupe: false });
        if (response.status === 202) {
          stats.ids.push(response.body.id);
          stats.jobs += 1;
          stats.lastAckMs = Date.now();
          break;
        }
        if (response.status === 429 || response.status === 503) {
          stats.retried += 1;
          await sleep(retryAfterMs(response));
          continue;
        }
        throw new Error(
          `POST /jobs answered ${response.status}: ${JSON.stringify(response.body).slice(0, 500)}`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, loop));
  return stats;
}

/** The machine and the versions of everything measured, plus how busy the machine was. */
/** CPU ms used so far by the processes whose command line matches `pattern` (pgrep -f). */
export async function cpuOfProcesses(pattern: string): Promise<number> {
  const pids = await pidsOf(pattern);
  return pids.reduce((sum, pid) => sum + (sampleProcess(pid)?.cpuMs ?? 0), 0);
}

export async function machineInfo(): Promise<Record<string, unknown>> {
  const version = async (cmd: string, args: string[]) => {
    try {
      const { stdout } = await run(cmd, args);
      return stdout.trim().split('\n')[0];
    } catch {
      return 'unknown';
    }
  };
  const pg = new Client({ connectionString: `${TEST_SERVICES.postgres}/postgres` });
  let postgres = 'unknown';
  let pgSettings: Record<string, string> = {};
  try {
    await pg.connect();
    postgres =
      (await pg.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v ??
      'unknown';
    const settings = await pg.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings WHERE name IN ('synchronous_commit', 'fsync', 'shared_buffers', 'max_connections')`,
    );
    pgSettings = Object.fromEntries(settings.rows.map((r) => [r.name, r.setting]));
  } finally {
    await pg.end().catch(() => undefined);
  }
  const redis = new Redis(TEST_SERVICES.redis, { lazyConnect: true });
  let redisVersion = 'unknown';
  try {
    await redis.connect();
    redisVersion = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
  } finally {
    redis.disconnect();
  }
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  const availableMb = Number(/MemAvailable:\s+(\d+)/.exec(meminfo)?.[1] ?? 0) / 1024;
  return {
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryTotalMb: Math.round(totalmem() / 2 ** 20),
    memoryAvailableMb: Math.round(availableMb),
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    node: process.version,
    postgres,
    postgresSettings: pgSettings,
    rabbitmq: await version('rabbitmqctl', ['version']),
    redis: redisVersion,
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
    jestProcesses: await jestProcesses(),
  };
}

/** Test runs of colleagues sharing the machine (jest processes), to say whether it was shared. */
export async function jestProcesses(): Promise<number> {
  return (await pidsOf('node_modules/.bin/jest')).length;
}

/** Machine-wide CPU time (all cores) used so far, busy and total, in ms, from /proc/stat. */
export function machineCpu(): { busyMs: number; totalMs: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const total = values.slice(0, 8).reduce((s, v) => s + v, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busyMs: ((total - idle) * 1000) / CLOCK_TICKS, totalMs: (total * 1000) / CLOCK_TICKS };
}

export interface CpuMark {
  at: number;
  machine: { busyMs: number; totalMs: number };
  components: Record<string, number>;
  benchMs: number;
  /** CPU of the bench's own PostgreSQL backend (its polling queries). */
  benchPgMs: number;
}

export async function cpuMark(bench: BenchStack): Promise<CpuMark> {
  const usage = process.cpuUsage();
  return {
    at: Date.now(),
    machine: machineCpu(),
    components: await bench.cpuSnapshot(),
    benchMs: (usage.user + usage.system) / 1000,
    benchPgMs: bench.pgCpu.benchMs,
  };
}

/**
 * Where the CPU went between two marks: each component's CPU ms (and per job when `jobs` is
 * given), the bench process itself, and the rest of the machine (colleagues' processes).
 */
export function cpuReport(
  from: CpuMark,
  to: CpuMark,
  jobs?: number,
  /** CPU the bench spent in child processes during the window (e.g. its rabbitmqctl samples), by name. */
  benchChildren: Record<string, number> = {},
): Record<string, unknown> {
  const components: Record<string, number> = {};
  let ours = 0;
  for (const [name, ms] of Object.entries(to.components)) {
    const used = Math.max(0, ms - (from.components[name] ?? 0));
    components[name] = Math.round(used);
    ours += used;
  }
  const benchMs = to.benchMs - from.benchMs;
  const benchPgMs = to.benchPgMs - from.benchPgMs;
  const busy = to.machine.busyMs - from.machine.busyMs;
  const total = to.machine.totalMs - from.machine.totalMs;
  return {
    wallMs: to.at - from.at,
    machineBusyPercent: total > 0 ? Math.round((busy / total) * 1000) / 10 : null,
    cpuMs: {
      ...components,
      'bench (load generator)': Math.round(benchMs),
      'bench (its PostgreSQL polling)': Math.round(benchPgMs),
      ...Object.fromEntries(Object.entries(benchChildren).map(([name, ms]) => [name, Math.round(ms)])),
      'other processes': Math.round(
        Math.max(
          0,
          busy - ours - benchMs - benchPgMs - Object.values(benchChildren).reduce((s, ms) => s + ms, 0),
        ),
      ),
    },
    ...(jobs
      ? {
          cpuMsPerJob: Object.fromEntries(
            Object.entries(components).map(([name, ms]) => [name, Math.round((ms / jobs) * 1000) / 1000]),
          ),
        }
      : {}),
  };
}
