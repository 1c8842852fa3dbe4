import { Queue } from 'bullmq';
import { TEST_SERVICES, removeRedisPrefix } from '@switchyard/testing';
import { cpuOfProcesses, machineCpu } from '../harness';
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

export const RATIO_TARGET = 0.3;

/**
 * The same number of no-op jobs through BullMQ against the same Redis (its own key prefix), in a
 * window of its own (main.ts runs it after Switchyard's stack has stopped): one worker process at
 * the Switchyard worker's concurrency, started before submission; jobs added with addBulk in
 * batches of the same size by the same number of concurrent submitters, each job with a priority
 * (Switchyard's default priority mapped to BullMQ's order, lower first), so that they take
 * BullMQ's prioritized path as Switchyard's jobs take its priority queues. Jobs/s = N ÷ (last
 * completion − first add).
 */
export async function bullmq(ctx: ScenarioContext): Promise<ScenarioResult> {
  const version = await packageVersion('bullmq');
  return repeatPeer(ctx, 'bullmq', `BullMQ ${version} (with priorities)`, () => bullmqRun(ctx));
}

async function bullmqRun(ctx: ScenarioContext): Promise<PeerRun> {
  const { options, log } = ctx;
  const prefix = `sybench_bullmq_${process.pid}_${Date.now()}`;
  const url = new URL(TEST_SERVICES.redis);
  const connection = { host: url.hostname, port: Number(url.port || 6379) };
  const queue = new Queue('bench', { connection, prefix });
  const worker = PeerWorker.start('bullmq-worker.mjs', [
    TEST_SERVICES.redis,
    prefix,
    'bench',
    String(options.concurrency),
    peerCounts(options),
  ]);
  const priority = invertedPriority(SWITCHYARD_PRIORITY, 1); // BullMQ: 1 is the highest, 0 none
  try {
    await queue.waitUntilReady();
    await worker.next('ready');
    log(
      `bullmq: ${options.jobs} no-op jobs with priority ${priority}, addBulk of ${options.batchSize}, ${options.submitters} submitters, concurrency ${options.concurrency}`,
    );
    const cpuAt = async () => ({
      components: {
        'bullmq worker': worker.cpuMs(),
        'redis (whole server)': await cpuOfProcesses('redis-server'),
        'bench (producer)': (process.cpuUsage().user + process.cpuUsage().system) / 1000,
      },
      machine: machineCpu(),
    });
    return await submitAndTime(worker, options, cpuAt, (from, to) =>
      queue.addBulk(
        Array.from({ length: to - from }, () => ({
          name: 'noop',
          data: { durationMs: 0 },
          opts: { priority },
        })),
      ),
    );
  } finally {
    await worker.stop();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    await removeRedisPrefix(`${prefix}:`);
  }
}
