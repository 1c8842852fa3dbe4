import { BUILT_IN_QUEUES, type AmqpNames } from '@switchyard/contracts';
import type { Logger } from '@switchyard/observability';
import type { Gauge, Registry } from 'prom-client';
import { createQueueMetrics, type QueueMetrics } from './job-metrics';
import type { JobQueueStates } from '@switchyard/persistence';
import { pollDelay } from '@switchyard/service-kit';

/** The `queue` label of the dead-letter queue; work queues are labelled by their short name. */
export const DLQ_LABEL = 'dlq';

export const QUEUE_LEVELS = ['ok', 'warning', 'critical'] as const;
export type QueueLevel = (typeof QUEUE_LEVELS)[number];

export interface BrokerQueues {
  queueStats(queue: string): Promise<{ messageCount: number; consumerCount: number }>;
}

export interface JobQueues {
  queueStates(): Promise<JobQueueStates>;
  /** Jobs in use per concurrency key (keys with a limit or jobs in use or waiting). */
  concurrencyInUse?(): Promise<{ key: string; inUse: number }[]>;
  /** Holds recorded per rate key so far (fleet-wide totals, never decreasing). */
  rateLimitHolds?(): Promise<{ key: string; holds: number }[]>;
}

export interface QueueSettings {
  pausedQueues(): Promise<Set<string>>;
}

export interface QueuePollerOptions {
  intervalMs: number;
  /** Queued jobs (backlog + released) at which a work queue is at the warning level (QUEUE_WARN_DEPTH). */
  warnDepth: number;
  /** Queued jobs (backlog + released) at which the gateway refuses new jobs (QUEUE_MAX_DEPTH). */
  maxDepth: number;
  names: AmqpNames;
  /** Queues besides the built-in ones (e.g. discovered from events). */
  extraQueues: () => readonly string[];
}

interface BrokerRow {
  queue: string;
  ready: number;
  consumers: number;
}

/** The `state` labels of `switchyard_queue_depth` read from PostgreSQL per work queue. */
const JOB_STATES = ['backlog', 'released', 'scheduled', 'running', 'retrying'] as const;

/**
 * Every `intervalMs`: ready messages and consumers of each work queue and of the DLQ from
 * RabbitMQ (the broker's DLQ holds messages no consumer could handle); per work queue the backlog
 * (queued, not released), released, scheduled, running and retrying jobs, the oldest queued job,
 * the level of backlog + released against the depths, and whether the queue is paused; and the
 * failed jobs in the DLQ (`queue="dlq", state="dead_lettered"`), from PostgreSQL. A source that
 * cannot be read withdraws its series (a stale number would look healthy) and counts a poll
 * error. The oldest age is computed at scrape time from the oldest created_at, so it keeps
 * growing between polls.
 */
export class QueuePoller {
  readonly metrics: QueueMetrics;
  /** Work queue → epoch ms of its oldest queued job (null: none queued). */
  private oldest = new Map<string, number | null>();
  /** Rate key → the holds total last added to `switchyard_rate_limit_holds_total`. */
  private readonly holdsSeen = new Map<string, number>();
  private readonly levels = new Map<string, QueueLevel>();
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly options: QueuePollerOptions,
    private readonly broker: BrokerQueues,
    private readonly jobs: JobQueues,
    private readonly settings: QueueSettings,
    registry: Registry,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.metrics = createQueueMetrics(registry, (gauge) => this.collectOldestAge(gauge));
  }

  /**
   * Polls at once, then every intervalMs after the previous poll ended (longer while a poll takes
   * more than 1/20 of it: pollDelay).
   */
  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.current;
  }

  /** One poll of both sources; an unreadable source withdraws its series rather than rejecting. */
  async pollOnce(): Promise<void> {
    const queues = [...new Set<string>([...BUILT_IN_QUEUES, ...this.options.extraQueues()])];
    const [broker, jobs, paused, keys, holds] = await Promise.all([
      this.pollBroker(queues),
      this.pollJobs(),
      this.pollPaused(),
      this.pollKeys(),
      this.pollHolds(),
    ]);
    // Applied together and synchronously, so a scrape never sees half of a poll.
    const { depth, consumers, level, paused: pausedGauge } = this.metrics;
    depth.reset();
    consumers.reset();
    level.reset();
    pausedGauge.reset();
    for (const row of broker) {
      depth.set({ queue: row.queue, state: 'ready' }, row.ready);
      consumers.set({ queue: row.queue }, row.consumers);
    }
    if (jobs) {
      depth.set({ queue: DLQ_LABEL, state: 'dead_lettered' }, jobs.deadLettered);
      const byQueue = new Map(jobs.queues.map((r) => [r.queue, r]));
      const oldest = new Map<string, number | null>();
      for (const queue of new Set([...queues, ...byQueue.keys()])) {
        const row = byQueue.get(queue);
        for (const state of JOB_STATES) depth.set({ queue, state }, row?.[state] ?? 0);
        // The gateway's queue_full counts the same: every queued job, released or not.
        const queued = (row?.backlog ?? 0) + (row?.released ?? 0);
        level.set({ queue }, QUEUE_LEVELS.indexOf(this.levelOf(queue, queued)));
        oldest.set(queue, row?.oldestQueuedAt?.getTime() ?? null);
      }
      this.oldest = oldest;
    } else {
      this.oldest = new Map();
    }
    if (paused) {
      for (const queue of new Set([...queues, ...paused]))
        pausedGauge.set({ queue }, paused.has(queue) ? 1 : 0);
    }
    this.metrics.concurrencyInUse.reset();
    for (const { key, inUse } of keys ?? []) this.metrics.concurrencyInUse.set({ key }, inUse);
    // The totals live in PostgreSQL (every worker adds to them): the counter follows them by their
    // increase since the last poll, so it starts at the fleet's total and never goes down.
    for (const { key, holds: total } of holds ?? []) {
      const added = total - (this.holdsSeen.get(key) ?? 0);
      if (added > 0) this.metrics.rateLimitHolds.inc({ key }, added);
      this.holdsSeen.set(key, Math.max(total, this.holdsSeen.get(key) ?? 0));
    }
  }

  /** The queue's level; a change is logged (SPEC §4: levels in metrics, /queues and logs). */
  private levelOf(queue: string, queued: number): QueueLevel {
    const { warnDepth, maxDepth } = this.options;
    const now: QueueLevel = queued >= maxDepth ? 'critical' : queued >= warnDepth ? 'warning' : 'ok';
    const before = this.levels.get(queue) ?? 'ok';
    this.levels.set(queue, now);
    if (now !== before) {
      const fields = { queue, queued, level: now, warnDepth, maxDepth };
      if (now === 'ok') this.logger.info(fields, 'queue depth back to ok');
      else this.logger.warn(fields, `queue depth at the ${now} level`);
    }
    return now;
  }

  collectOldestAge(gauge: Gauge<'queue'>): void {
    gauge.reset();
    const now = this.now();
    for (const [queue, at] of this.oldest) {
      gauge.set({ queue }, at === null ? 0 : Math.max(0, now - at) / 1000);
    }
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      const started = performance.now();
      this.current = this.pollOnce()
        .catch((error: unknown) => this.logger.error({ err: error }, 'queue poll failed'))
        .finally(() => {
          // Counts over a large backlog are slow: the next poll waits longer rather than taking a
          // growing share of the database (pollDelay).
          if (!this.stopped) this.schedule(pollDelay(this.options.intervalMs, performance.now() - started));
        });
    }, delayMs);
  }

  private async pollBroker(queues: string[]): Promise<BrokerRow[]> {
    const targets = [
      ...queues.map((queue) => ({ label: queue, name: this.options.names.workQueue(queue) })),
      { label: DLQ_LABEL, name: this.options.names.deadLetterQueue },
    ];
    const results = await Promise.allSettled(targets.map((t) => this.broker.queueStats(t.name)));
    const rows: BrokerRow[] = [];
    const failed: { queue: string; error: unknown }[] = [];
    results.forEach((result, i) => {
      if (result.status === 'fulfilled') {
        const { messageCount: ready, consumerCount: consumers } = result.value;
        rows.push({ queue: targets[i].label, ready, consumers });
      } else {
        failed.push({ queue: targets[i].name, error: result.reason });
      }
    });
    if (failed.length) {
      this.metrics.pollErrors.inc({ source: 'rabbitmq' });
      this.logger.warn(
        { queues: failed.map((f) => f.queue), err: failed[0].error },
        'queue stats unavailable; their series are withdrawn',
      );
    }
    return rows;
  }

  private async pollPaused(): Promise<Set<string> | undefined> {
    try {
      return await this.settings.pausedQueues();
    } catch (error) {
      this.metrics.pollErrors.inc({ source: 'postgres' });
      this.logger.warn({ err: error }, 'queue settings unavailable; paused withdrawn');
      return undefined;
    }
  }

  private async pollKeys(): Promise<{ key: string; inUse: number }[] | undefined> {
    if (!this.jobs.concurrencyInUse) return [];
    try {
      return await this.jobs.concurrencyInUse();
    } catch (error) {
      this.metrics.pollErrors.inc({ source: 'postgres' });
      this.logger.warn({ err: error }, 'concurrency keys unavailable; concurrency_in_use withdrawn');
      return undefined;
    }
  }

  private async pollHolds(): Promise<{ key: string; holds: number }[] | undefined> {
    if (!this.jobs.rateLimitHolds) return [];
    try {
      return await this.jobs.rateLimitHolds();
    } catch (error) {
      this.metrics.pollErrors.inc({ source: 'postgres' });
      this.logger.warn({ err: error }, 'rate keys unavailable; rate_limit_holds_total not updated');
      return undefined;
    }
  }

  private async pollJobs(): Promise<JobQueueStates | undefined> {
    try {
      return await this.jobs.queueStates();
    } catch (error) {
      this.metrics.pollErrors.inc({ source: 'postgres' });
      this.logger.warn(
        { err: error },
        'job states unavailable; their depths, levels and oldest age withdrawn',
      );
      return undefined;
    }
  }
}
