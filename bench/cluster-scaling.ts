import { loadavg } from 'node:os';
import { Pool } from 'pg';
import {
  rabbitmqInstalled,
  TestCluster,
  TestStack,
  TEST_SERVICES,
  waitFor,
  type ServiceProcess,
} from '@switchyard/testing';

/**
 * `npm run bench:cluster`: throughput of a CPU-bound job type (`audio.generate`, rendered on the
 * worker's CPU threads) with 1, 2 and 4 worker processes on a three-node RabbitMQ cluster with
 * quorum queues, beside 1 worker on the machine's single broker with classic queues. Each worker
 * has one CPU thread (WORKER_CPU_THREADS=1) and two slots, so processes are what scales. The 1-min
 * load average before and after each run is printed with it: on a shared machine the figures are
 * only as good as the cores that were free.
 *
 *   npm run bench:cluster -- [--jobs 200] [--seconds 2] [--workers 1,2,4]
 */

interface Options {
  jobs: number;
  seconds: number;
  workers: number[];
}

interface Run {
  setup: string;
  workers: number;
  jobs: number;
  elapsedMs: number;
  jobsPerSecond: number;
  loadBefore: number;
  loadAfter: number;
}

function parse(args: string[]): Options {
  const value = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  return {
    jobs: Number(value('--jobs') ?? 200),
    seconds: Number(value('--seconds') ?? 2),
    workers: (value('--workers') ?? '1,2,4').split(',').map(Number),
  };
}

const write = (text: string) => process.stdout.write(`${text}\n`);
const progress = (text: string) => process.stderr.write(`${text}\n`);

const load = () => Math.round(loadavg()[0] * 100) / 100;

/** Runs `jobs` audio.generate jobs through `workers` worker processes of `stack`; jobs/s from first start to last finish. */
async function measure(stack: TestStack, setup: string, workers: number, options: Options): Promise<Run> {
  const db = new Pool({ connectionString: stack.db.url, max: 2 });
  const processes: ServiceProcess[] = [];
  try {
    for (let i = 0; i < workers; i++) {
      processes.push(
        await stack.spawn('worker', {
          WORKER_QUEUES: 'generation',
          WORKER_CPU_THREADS: '1',
          WORKER_CONCURRENCY: '2',
        }),
      );
    }
    const api = stack.api();
    const tag = `${setup}-${workers}-${Date.now()}`;
    const submit = async (count: number, label: string) => {
      const ids: string[] = [];
      for (let offset = 0; offset < count; offset += 100) {
        const jobs = Array.from({ length: Math.min(100, count - offset) }, (_, k) => ({
          type: 'audio.generate',
          dedupe: false,
          // A seed of its own per job: audio.generate is cacheable, identical payloads would hit the cache.
          payload: { prompt: `bench ${label}`, durationSec: options.seconds, seed: offset + k },
          metadata: { bench: label },
        }));
        const response = await api.post<{ jobs: { id: string }[] }>('/jobs/batch', { jobs });
        if (response.status !== 202) throw new Error(`batch answered ${response.status}`);
        ids.push(...response.body.jobs.map((j) => j.id));
      }
      await waitFor(
        async () => {
          const { rows } = await db.query<{ n: string }>(
            `SELECT count(*) AS n FROM jobs WHERE id = ANY($1::uuid[]) AND status = 'completed'`,
            [ids],
          );
          return Number(rows[0]?.n) === ids.length;
        },
        { timeoutMs: 600000, intervalMs: 250, what: `${count} ${label} jobs completed` },
      );
      return ids;
    };
    // Warm-up: the workers' threads, pools and JIT.
    await submit(4 * workers, `${tag}-warmup`);
    const loadBefore = load();
    const ids = await submit(options.jobs, tag);
    const loadAfter = load();
    const { rows } = await db.query<{ first: number; last: number }>(
      `SELECT extract(epoch FROM min(started_at)) * 1000 AS first, extract(epoch FROM max(finished_at)) * 1000 AS last
         FROM jobs WHERE id = ANY($1::uuid[])`,
      [ids],
    );
    const elapsedMs = Number(rows[0].last) - Number(rows[0].first);
    return {
      setup,
      workers,
      jobs: ids.length,
      elapsedMs: Math.round(elapsedMs),
      jobsPerSecond: Math.round((ids.length * 10000) / elapsedMs) / 10,
      loadBefore,
      loadAfter,
    };
  } finally {
    await Promise.all(processes.map((p) => p.stop('SIGTERM')));
    await db.end();
  }
}

async function onStack(env: Record<string, string>, run: (stack: TestStack) => Promise<void>): Promise<void> {
  const stack = await TestStack.create(env);
  try {
    await stack.start(['gateway', 'progress-tracker']);
    await run(stack);
  } finally {
    await stack.destroy();
  }
}

export async function main(args: string[]): Promise<number> {
  const options = parse(args);
  if (!rabbitmqInstalled()) {
    progress('rabbitmq-server is not installed: no cluster to measure');
    return 1;
  }
  const runs: Run[] = [];
  const log = (run: Run) => {
    runs.push(run);
    progress(
      `${run.setup}, ${run.workers} worker(s): ${run.jobsPerSecond} jobs/s (${run.jobs} jobs in ${run.elapsedMs} ms; load ${run.loadBefore} → ${run.loadAfter})`,
    );
  };
  progress(
    `audio.generate, ${options.seconds} s of audio per job, ${options.jobs} jobs per run; machine load ${load()}`,
  );
  await onStack({ AMQP_URL: TEST_SERVICES.amqp, AMQP_QUEUE_TYPE: 'classic' }, async (stack) => {
    log(await measure(stack, 'single node, classic', 1, options));
  });
  const cluster = new TestCluster(5721, 'syb');
  try {
    await cluster.up();
    await onStack({ AMQP_URL: cluster.amqpUrl, AMQP_QUEUE_TYPE: 'quorum' }, async (stack) => {
      for (const workers of options.workers)
        log(await measure(stack, '3-node cluster, quorum', workers, options));
    });
  } finally {
    await cluster.down();
  }
  write('| setup | worker processes | jobs/s | jobs | elapsed | load (1 min) before → after |');
  write('| --- | --- | --- | --- | --- | --- |');
  for (const r of runs) {
    write(
      `| ${r.setup} | ${r.workers} | ${r.jobsPerSecond} | ${r.jobs} | ${(r.elapsedMs / 1000).toFixed(1)} s | ${r.loadBefore} → ${r.loadAfter} |`,
    );
  }
  return 0;
}
