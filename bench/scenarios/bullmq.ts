import { fork } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { TEST_SERVICES, removeRedisPrefix } from '@switchyard/testing';
import { cpuOfProcesses, machineCpu, ROOT, sampleProcess } from '../harness';
import { round } from '../stats';
import { atLeast, type ScenarioContext, type ScenarioResult } from './types';

export const RATIO_TARGET = 0.3;

interface WorkerMessage {
  kind: 'ready' | 'done' | 'failed';
  at?: number;
  message?: string;
}

/**
 * The same number of no-op jobs through BullMQ against the same Redis (its own key prefix): one
 * worker process at the Switchyard worker's concurrency, jobs added with addBulk in batches of
 * the same size by the same number of concurrent submitters. Jobs/s = N ÷ (last completion −
 * first add), and the ratio Switchyard ÷ BullMQ.
 */
export async function bullmq(
  ctx: ScenarioContext,
  switchyardRate: number | undefined,
): Promise<ScenarioResult> {
  const { options, log } = ctx;
  const prefix = `sybench_bullmq_${process.pid}_${Date.now()}`;
  const url = new URL(TEST_SERVICES.redis);
  const connection = { host: url.hostname, port: Number(url.port || 6379) };
  const queue = new Queue('bench', { connection, prefix });
  const child = fork(
    join(__dirname, '..', 'bullmq-worker.mjs'),
    [TEST_SERVICES.redis, prefix, 'bench', String(options.concurrency), String(options.jobs)],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const failures: string[] = [];
  const messages = (kind: WorkerMessage['kind']) =>
    new Promise<WorkerMessage>((resolve, reject) => {
      const onMessage = (m: WorkerMessage) => {
        if (m.kind === 'failed') failures.push(m.message ?? '');
        if (m.kind === kind) {
          child.off('message', onMessage);
          resolve(m);
        }
      };
      child.on('message', onMessage);
      child.once('exit', (code) => reject(new Error(`the BullMQ worker exited (${code})`)));
    });
  let maxRssMb = 0;
  const sampler = setInterval(() => {
    const sample = child.pid === undefined ? undefined : sampleProcess(child.pid);
    if (sample) maxRssMb = Math.max(maxRssMb, sample.rssMb, sample.hwmMb);
  }, 250);
  try {
    await queue.waitUntilReady();
    await messages('ready');
    log(
      `bullmq: ${options.jobs} no-op jobs, addBulk of ${options.batchSize}, ${options.submitters} submitters, concurrency ${options.concurrency}`,
    );
    const cpuAt = async () => ({
      worker: (child.pid === undefined ? undefined : sampleProcess(child.pid))?.cpuMs ?? 0,
      redis: await cpuOfProcesses('redis-server'),
      producer: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
      machine: machineCpu(),
    });
    const cpuBefore = await cpuAt();
    const done = messages('done');
    done.catch(() => undefined); // awaited below; a worker crash must not surface as unhandled first
    const started = Date.now();
    let next = 0;
    let lastAdd = started;
    const submitter = async () => {
      while (next < options.jobs) {
        const from = next;
        next = Math.min(options.jobs, from + options.batchSize);
        const jobs = [];
        for (let i = from; i < next; i++) jobs.push({ name: 'noop', data: { durationMs: 0 } });
        await queue.addBulk(jobs);
        lastAdd = Date.now();
      }
    };
    await Promise.all(Array.from({ length: options.submitters }, submitter));
    const finished = await done;
    const cpuAfter = await cpuAt();
    const elapsedMs = (finished.at ?? Date.now()) - started;
    const used = {
      'bullmq worker': Math.round(cpuAfter.worker - cpuBefore.worker),
      'redis (whole server)': Math.round(cpuAfter.redis - cpuBefore.redis),
      'bench (producer)': Math.round(cpuAfter.producer - cpuBefore.producer),
    };
    const busy = cpuAfter.machine.busyMs - cpuBefore.machine.busyMs;
    const ours = Object.values(used).reduce((a, b) => a + b, 0);
    const rate = (options.jobs * 1000) / elapsedMs;
    const ratio = switchyardRate === undefined ? undefined : switchyardRate / rate;
    log(
      `bullmq: ${round(rate)} jobs/s${ratio === undefined ? '' : `; Switchyard/BullMQ = ${round(ratio, 3)}`}`,
    );
    return {
      name: 'bullmq',
      rows: [
        {
          measure: `BullMQ ${(await bullmqVersion()) ?? ''} no-op throughput, same N and concurrency`,
          value: round(rate),
          unit: 'jobs/s',
          target: '',
          pass: null,
        },
        {
          measure: 'Switchyard ÷ BullMQ throughput',
          value: ratio === undefined ? 'not measured' : round(ratio, 3),
          unit: '×',
          target: `≥ ${RATIO_TARGET}`,
          pass: ratio === undefined ? null : atLeast(ratio, RATIO_TARGET),
        },
      ],
      details: {
        jobs: options.jobs,
        concurrency: options.concurrency,
        submitters: options.submitters,
        batchSize: options.batchSize,
        elapsedMs,
        addMs: lastAdd - started,
        jobsPerSecond: round(rate),
        ratio: ratio === undefined ? null : round(ratio, 3),
        failures: failures.length,
        workerMaxRssMb: round(maxRssMb),
        cpu: {
          wallMs: elapsedMs,
          machineBusyPercent: round((busy / (cpuAfter.machine.totalMs - cpuBefore.machine.totalMs)) * 100),
          cpuMs: { ...used, 'other processes': Math.round(Math.max(0, busy - ours)) },
          cpuMsPerJob: Object.fromEntries(
            Object.entries(used).map(([k, v]) => [k, round(v / options.jobs, 3)]),
          ),
        },
      },
    };
  } finally {
    clearInterval(sampler);
    child.send({ kind: 'stop' });
    await new Promise((resolve) => {
      if (child.exitCode !== null) resolve(undefined);
      else child.once('exit', resolve);
    });
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    await removeRedisPrefix(`${prefix}:`);
  }
}

async function bullmqVersion(): Promise<string | undefined> {
  try {
    const pkg = JSON.parse(await readFile(join(ROOT, 'node_modules', 'bullmq', 'package.json'), 'utf8')) as {
      version?: string;
    };
    return pkg.version;
  } catch {
    return undefined;
  }
}
