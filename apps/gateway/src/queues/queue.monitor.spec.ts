import { Registry } from 'prom-client';
import { GatewayConfigSchema, loadConfig } from '@switchyard/config';
import { ApiError, BUILT_IN_QUEUES } from '@switchyard/contracts';
import { HandlerRegistry } from '@switchyard/handler-sdk';
import { BUILT_IN_JOB_TYPES } from '@switchyard/handlers';
import type { QueueRates } from '@switchyard/live-state';
import type { AmqpClient } from '@switchyard/messaging';
import { createLogger } from '@switchyard/observability';
import type { JobQueriesRepository, QueueLevels, QueueSettingsRepository } from '@switchyard/persistence';
import { QueueMonitor } from './queue.monitor';

function monitor(options: {
  /** RabbitMQ's ready count. */
  ready?: number;
  /** PostgreSQL: queued and not released, released and not claimed. */
  backlog?: number;
  released?: number;
  scheduled?: number;
  paused?: boolean;
  consumers?: number;
  /** Queued jobs per priority, and the oldest one's creation time. */
  byPriority?: Record<number, number>;
  oldest?: Date;
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
          ? { messageCount: options.ready ?? 0, consumerCount: options.consumers ?? 1 }
          : { messageCount: 0, consumerCount: 0 },
      ),
  } as unknown as AmqpClient;
  const levels: QueueLevels = {
    backlog: options.backlog ?? 0,
    released: options.released ?? 0,
    scheduled: options.scheduled ?? 0,
    running: options.running ?? 2,
    oldestQueuedAt: options.oldest ?? null,
    queuedByPriority: Array.from({ length: 10 }, (_, p) => options.byPriority?.[p] ?? 0),
  };
  const queries = {
    queueLevels: () => Promise.resolve(new Map([['default', levels]])),
  } as unknown as JobQueriesRepository;
  const rates = {
    read: () =>
      Promise.resolve(
        new Map([['default', { started: options.started ?? 0, finished: options.finished ?? 0 }]]),
      ),
  } as unknown as QueueRates;
  const settings = {
    settings: () =>
      Promise.resolve(
        new Map([['default', { queue: 'default', paused: options.paused ?? false, pausedAt: null }]]),
      ),
  } as unknown as QueueSettingsRepository;
  const m = new QueueMonitor(
    config,
    createLogger('test', 'info', { write: (line: string) => lines.push(line) }),
    new HandlerRegistry(BUILT_IN_JOB_TYPES, BUILT_IN_QUEUES),
    new Registry(),
    amqp,
    queries,
    settings,
    rates,
  );
  return { m, lines, levels };
}

describe('QueueMonitor', () => {
  afterEach(() => jest.useRealTimers());

  it('refuses with 503 queue_full and Retry-After once the PostgreSQL backlog would pass QUEUE_MAX_DEPTH', async () => {
    // RabbitMQ holds only the released window: its ready count plays no part.
    const { m, lines } = monitor({ ready: 16, backlog: 82, released: 16, finished: 300 });
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
      ready: 16,
      backlog: 84,
      released: 16,
      running: 2,
      level: 'critical',
      inFlight: 2,
    });
    await m.onApplicationShutdown();
  });

  it('estimates the wait from the queued jobs at equal or higher priority the free slots cannot take, at the start rate', async () => {
    const at = new Date(Date.now() - 60000);
    const { m } = monitor({
      backlog: 30,
      finished: 300, // one per second over the last five minutes
      started: 120, // two per second over the last minute
      // one consumer × WORKER_CONCURRENCY 8, 2 running: 6 free slots
      byPriority: { 9: 10, 5: 20 },
      oldest: at,
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
      backlog: 9,
      finished: 4,
      started: 30,
      running: 0,
      byPriority: { 5: 9 },
      oldest: at,
    });
    await busy.m.onModuleInit();
    expect(busy.m.estimateWaitMs('default', 5)).toBe(4000);
    await busy.m.onApplicationShutdown();
  });

  it('counts the backlog, not the ready count, for the warning level, and shows paused queues without a wait', async () => {
    const { m, lines, levels } = monitor({ ready: 500, backlog: 10, scheduled: 7, paused: true });
    await m.onModuleInit();
    expect(() => m.assertRoom('default', 90)).not.toThrow();
    expect(lines.some((l) => l.includes('depth is'))).toBe(false);
    expect(m.view('default')).toMatchObject({
      queue: 'default',
      ready: 500,
      backlog: 10,
      scheduled: 7,
      paused: true,
      estimatedWaitMs: null,
      level: 'ok',
    });
    expect(m.view('nowhere')).toBeUndefined();

    // A resume written by this gateway shows at once; the next poll agrees with PostgreSQL.
    m.notePaused('default', false);
    // 10 ahead + this job − 6 free slots, at 1 s per job without measured rates.
    expect(m.view('default')).toMatchObject({ paused: false, estimatedWaitMs: 5000 });

    levels.backlog = 85;
    // The next poll (a restart polls at once).
    await m.onApplicationShutdown();
    await m.onModuleInit();
    expect(m.view('default')).toMatchObject({ backlog: 85, paused: true, level: 'warning' });
    expect(lines.some((l) => l.includes('queue default depth is warning'))).toBe(true);
    await m.onApplicationShutdown();
  });
});
