import { fork, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MAX_PRIORITY, DEFAULT_PRIORITY } from '@switchyard/contracts';
import { ROOT, sampleProcess, type machineCpu } from '../harness';
import { round, spread } from '../stats';
import type { ScenarioContext, ScenarioResult } from './types';

/**
 * The priority the throughput scenario's jobs have in Switchyard (none given: the default), so
 * that the peers run the same jobs through their priority paths: Switchyard's work queues are
 * always priority queues (`x-max-priority`, the backlog ordered by priority).
 */
export const SWITCHYARD_PRIORITY = DEFAULT_PRIORITY;
/** Switchyard runs higher priorities first; BullMQ and Graphile Worker run lower numbers first. */
export const invertedPriority = (priority: number, offset: number): number =>
  MAX_PRIORITY - priority + offset;

interface WorkerMessage {
  kind: 'ready' | 'done' | 'failed';
  at?: number;
  message?: string;
}

/** A peer's worker in a process of its own, like the Switchyard worker: "ready", then "done" at its N-th completion. */
export class PeerWorker {
  readonly failures: string[] = [];
  maxRssMb = 0;
  private readonly sampler: NodeJS.Timeout;

  constructor(private readonly child: ChildProcess) {
    child.on('message', (m: WorkerMessage) => {
      if (m.kind === 'failed') this.failures.push(m.message ?? '');
    });
    this.sampler = setInterval(() => {
      const sample = child.pid === undefined ? undefined : sampleProcess(child.pid);
      if (sample) this.maxRssMb = Math.max(this.maxRssMb, sample.rssMb, sample.hwmMb);
    }, 250);
  }

  static start(script: string, args: string[]): PeerWorker {
    return new PeerWorker(
      fork(join(ROOT, 'bench', script), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
    );
  }

  /** Resolves at the next message of this kind; rejects if the process exits first. */
  next(kind: WorkerMessage['kind']): Promise<WorkerMessage> {
    const promise = new Promise<WorkerMessage>((resolve, reject) => {
      const onMessage = (m: WorkerMessage) => {
        if (m.kind !== kind) return;
        this.child.off('message', onMessage);
        resolve(m);
      };
      this.child.on('message', onMessage);
      this.child.once('exit', (code) => reject(new Error(`the peer's worker exited (${code})`)));
    });
    promise.catch(() => undefined); // awaited by the caller; a crash must not surface as unhandled first
    return promise;
  }

  cpuMs(): number {
    return (this.child.pid === undefined ? undefined : sampleProcess(this.child.pid))?.cpuMs ?? 0;
  }

  async stop(): Promise<void> {
    clearInterval(this.sampler);
    if (this.child.exitCode === null && this.child.connected) this.child.send({ kind: 'stop' });
    await new Promise((resolve) => {
      if (this.child.exitCode !== null) resolve(undefined);
      else this.child.once('exit', resolve);
    });
  }
}

/** One run of a peer: its rate and where the CPU went. */
export interface PeerRun {
  jobsPerSecond: number;
  elapsedMs: number;
  addMs: number;
  failures: number;
  workerMaxRssMb: number;
  cpu: {
    wallMs: number;
    machineBusyPercent: number;
    cpuMs: Record<string, number>;
    cpuMsPerJob: Record<string, number>;
  };
}

/** CPU used between two readings, per component, per job and the rest of the machine. */
export function peerCpu(before: CpuReading, after: CpuReading, jobs: number, wallMs: number): PeerRun['cpu'] {
  const used = Object.fromEntries(
    Object.entries(after.components).map(([k, v]) => [k, Math.round(v - (before.components[k] ?? 0))]),
  );
  const busy = after.machine.busyMs - before.machine.busyMs;
  const ours = Object.values(used).reduce((a, b) => a + b, 0);
  return {
    wallMs,
    machineBusyPercent: round((busy / Math.max(1, after.machine.totalMs - before.machine.totalMs)) * 100),
    cpuMs: { ...used, 'other processes': Math.round(Math.max(0, busy - ours)) },
    cpuMsPerJob: Object.fromEntries(Object.entries(used).map(([k, v]) => [k, round(v / jobs, 3)])),
  };
}

/** A CPU reading of a peer run's components and of the whole machine. */
export type CpuReading = { components: Record<string, number>; machine: ReturnType<typeof machineCpu> };

/**
 * The timed part of a peer run: `submitters` lanes add `jobs` in batches of `batchSize` through
 * `addBatch(from, to)` while the worker runs them; the window ends at the worker's N-th completion
 * (`done`), after which `afterDone` may check what the peer left behind.
 */
export async function submitAndTime(
  worker: PeerWorker,
  options: { jobs: number; batchSize: number; submitters: number; warmup: number },
  cpuAt: () => Promise<CpuReading>,
  addBatch: (from: number, to: number) => Promise<unknown>,
  afterDone: () => Promise<void> = () => Promise.resolve(),
): Promise<PeerRun> {
  /** Adds `jobs` jobs; resolves with the time the last add answered. */
  const submit = async (jobs: number): Promise<number> => {
    let next = 0;
    let lastAdd = Date.now();
    const submitter = async () => {
      while (next < jobs) {
        const from = next;
        next = Math.min(jobs, from + options.batchSize);
        await addBatch(from, next);
        lastAdd = Date.now();
      }
    };
    await Promise.all(Array.from({ length: options.submitters }, submitter));
    return lastAdd;
  };
  if (options.warmup > 0) {
    // The unmeasured warm-up, as Switchyard's (the worker reports "done" at its last job first).
    const warm = worker.next('done');
    await submit(options.warmup);
    await warm;
  }
  const cpuBefore = await cpuAt();
  const done = worker.next('done');
  const started = Date.now();
  const lastAdd = await submit(options.jobs);
  const finished = await done;
  const cpuAfter = await cpuAt();
  const elapsedMs = (finished.at ?? Date.now()) - started;
  await afterDone();
  return {
    jobsPerSecond: round((options.jobs * 1000) / elapsedMs),
    elapsedMs,
    addMs: lastAdd - started,
    failures: worker.failures.length,
    workerMaxRssMb: round(worker.maxRssMb),
    cpu: peerCpu(cpuBefore, cpuAfter, options.jobs, elapsedMs),
  };
}

/** The worker's "done" counts: the warm-up's last job (if any), then the measured run's. */
export const peerCounts = (options: { jobs: number; warmup: number }): string =>
  options.warmup > 0 ? `${options.warmup},${options.warmup + options.jobs}` : String(options.jobs);

/**
 * Runs a peer `--repeat` times (each run on fresh state) and reports the median rate with its
 * spread; the ratios to Switchyard are added by the summary (main.ts).
 */
export async function repeatPeer(
  ctx: ScenarioContext,
  name: string,
  label: string,
  once: () => Promise<PeerRun>,
): Promise<ScenarioResult> {
  const runs: PeerRun[] = [];
  for (let i = 0; i < ctx.options.repeat; i++) {
    const run = await once();
    runs.push(run);
    ctx.log(
      `${name} run ${i + 1}/${ctx.options.repeat}: ${run.jobsPerSecond} jobs/s; CPU ${JSON.stringify(run.cpu.cpuMs)}`,
    );
  }
  const rate = spread(runs.map((r) => r.jobsPerSecond));
  const medianRun = [...runs].sort((a, b) => a.jobsPerSecond - b.jobsPerSecond)[
    Math.floor((runs.length - 1) / 2)
  ];
  const { options } = ctx;
  return {
    name,
    rows: [
      {
        measure: `${label} no-op throughput${runs.length > 1 ? `, median of ${runs.length} runs` : ''}`,
        value: round(rate.median),
        unit: 'jobs/s',
        target: '',
        pass: null,
      },
      ...(runs.length > 1
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
      {
        measure: '  CPU per job (ms)',
        value: Object.entries(medianRun.cpu.cpuMsPerJob)
          .map(([k, v]) => `${k.replace(/ \(.*\)$/, '')} ${v}`)
          .join(', '),
        unit: '',
        target: '',
        pass: null,
      },
    ],
    details: {
      jobs: options.jobs,
      concurrency: options.concurrency,
      submitters: options.submitters,
      batchSize: options.batchSize,
      priority: SWITCHYARD_PRIORITY,
      repeat: runs.length,
      jobsPerSecond: round(rate.median),
      jobsPerSecondSpread: rate,
      cpu: medianRun.cpu,
      runs,
    },
  };
}

export async function packageVersion(name: string): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? '';
  } catch {
    return '';
  }
}
