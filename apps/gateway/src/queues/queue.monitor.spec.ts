import { Registry } from 'prom-client';
import { GatewayConfigSchema, loadConfig } from '@switchyard/config';
import { ApiError, BUILT_IN_QUEUES } from '@switchyard/contracts';
import { HandlerRegistry } from '@switchyard/handler-sdk';
import { BUILT_IN_JOB_TYPES } from '@switchyard/handlers';
import type { AmqpClient } from '@switchyard/messaging';
import { createLogger } from '@switchyard/observability';
import type { JobQueriesRepository, QueuedBucket } from '@switchyard/persistence';
import { QueueMonitor } from './queue.monitor';

function monitor(options: {
  ready: number;
  consumers?: number;
  buckets?: QueuedBucket[];
  finished?: number;
  started?: number;
  running?: number;
}) {
  const config = loadConfig(GatewayConfigSchema, { QUEUE_MAX_DEPTH: '100', QUEUE_WARN_DEPTH: '80' });
  const lines: string[] = [];
  const amqp = {
    isConnected: () => true,
    names: { workQueue: (q: string) => `sy.jobs.${q}` },
    queueStats: (name: string) =>
      Promise.resolve(
        name === 'sy.jobs.default'
          ? { messageCount: options.ready, consumerCount: options.consumers ?? 1 }
          : { messageCount: 0, consumerCount: 0 },
      ),
  } as unknown as AmqpClient;
  const queries = {
    queuedBuckets: () => Promise.resolve(options.buckets ?? []),
    runningByQueue: () => Promise.resolve(new Map([['default', options.running ?? 2]])),
    finishedByQueue: () => Promise.resolve(new Map([['default', options.finished ?? 0]])),
    startedByQueue: () => Promise.resolve(new Map([['default', options.started ?? 0]])),
  } as unknown as JobQueriesRepository;
  const m = new QueueMonitor(
    config,
    createLogger('test', 'info', { write: (line: string) => lines.push(line) }),
    new HandlerRegistry(BUILT_IN_JOB_TYPES, BUILT_IN_QUEUES),
    new Registry(),
    amqp,
    queries,
  );
  return { m, lines };
}

describe('QueueMonitor', () => {
  afterEach(() => jest.useRealTimers());

  it('refuses with 503 queue_full and Retry-After once the ready depth would pass QUEUE_MAX_DEPTH', async () => {
    const { m, lines } = monitor({ ready: 98, finished: 300 });
    await m.onModuleInit();
    expect(() => m.assertRoom('default', 2)).not.toThrow();
    m.noteDispatched('default', 2);
    let caught: unknown;
    try {
      m.assertRoom('default', 1);
    } catch (error) {
      caught = error;
    }
    expect((caught as ApiError).code).toBe('queue_full');
    expect(Number((caught as ApiError).headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(lines.some((l) => l.includes('queue default depth is warning'))).toBe(true);
    expect(m.views().find((v) => v.queue === 'default')).toMatchObject({
      ready: 100,
      level: 'critical',
      inFlight: 2,
    });
    await m.onApplicationShutdown();
  });

  it('estimates the wait from the queued jobs at equal or higher priority the free slots cannot take, at the start rate', async () => {
    const at = new Date(Date.now() - 60000);
    const { m } = monitor({
      ready: 30,
      finished: 300, // one per second over the last five minutes
      started: 120, // two per second over the last minute
      // one consumer × WORKER_CONCURRENCY 8, 2 running: 6 free slots
      buckets: [
        { queue: 'default', priority: 9, count: 10, oldestCreatedAt: at },
        { queue: 'default', priority: 5, count: 20, oldestCreatedAt: at },
      ],
    });
    await m.onModuleInit();
    // 10 ahead + this job − 6 free slots = 5 starts at 500 ms each.
    expect(m.estimateWaitMs('default', 9)).toBe(2500);
    expect(m.estimateWaitMs('default', 5)).toBe(12500);
    expect(m.estimateWaitMs('default', 5, 2)).toBe(13500);
    expect(m.estimateWaitMs('default', 0)).toBe(12500);
    expect(m.waitForAhead('default', 5)).toBe(0);
    const view = m.views().find((v) => v.queue === 'default');
    expect(view?.completedPerMinute).toBe(60);
    expect(view?.oldestAgeMs).toBeGreaterThanOrEqual(60000);
    expect(m.queuesWithoutConsumers().sort()).toEqual(['analysis', 'generation']);
    await m.onApplicationShutdown();
  });

  it('estimates no wait on an idle queue whose free slots cover the backlog, however slow its recent rate', async () => {
    const at = new Date();
    // Four jobs in five minutes (75 s per job by the completion rate), nothing running now.
    const { m } = monitor({ ready: 0, finished: 4, started: 1, running: 0 });
    await m.onModuleInit();
    // Three back-to-back submissions: each sees the earlier ones ahead of it.
    expect([0, 1, 2].map((n) => m.estimateWaitMs('default', 5, n))).toEqual([0, 0, 0]);
    expect(m.views().find((v) => v.queue === 'default')?.estimatedWaitMs).toBe(0);
    await m.onApplicationShutdown();

    // Eight free slots, nine ahead: this job waits for two starts.
    const busy = monitor({
      ready: 9,
      finished: 4,
      started: 30,
      running: 0,
      buckets: [{ queue: 'default', priority: 5, count: 9, oldestCreatedAt: at }],
    });
    await busy.m.onModuleInit();
    expect(busy.m.estimateWaitMs('default', 5)).toBe(4000);
    await busy.m.onApplicationShutdown();
  });
});
