import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Gauge, Registry } from 'prom-client';
import { ApiError, type QueueLevel, type QueueView } from '@switchyard/contracts';
import type { AnyJobTypeDefinition, HandlerRegistry } from '@switchyard/handler-sdk';
import { QueueRates } from '@switchyard/live-state';
import { AmqpClient } from '@switchyard/messaging';
import { gauge, METRIC_PREFIX } from '@switchyard/observability';
import { JobQueriesRepository, QueueSettingsRepository } from '@switchyard/persistence';
import { pollDelay } from '@switchyard/service-kit';
import {
  GATEWAY_CONFIG,
  HANDLER_REGISTRY,
  LOGGER,
  METRICS,
  type GatewayConfig,
  type Logger,
} from '../gateway.tokens';

/**
 * How often the depths are read: the PostgreSQL backlog with its per-priority counts and the
 * paused flag (the queue_full check and the wait estimates), RabbitMQ's ready count and consumers;
 * the backlog poll waits longer while it takes more than 1/20 of its interval (pollDelay: counts
 * over a large backlog). And how often the rates behind estimates are read (Redis counters).
 */
export const DEPTH_POLL_MS = 1000;
export const RATES_POLL_MS = 2000;
/** The completion rate behind estimates is measured over this window. */
const RATE_WINDOW_S = 300;
/** The start rate behind wait estimates is measured over this (shorter, so it follows bursts) window. */
const START_WINDOW_S = 60;
/** With no completions to measure, assume this many ms per job per consumer. */
const FALLBACK_MS_PER_JOB = 1000;

/** The background polls, each paced on its own. */
type Poll = 'backlog' | 'broker' | 'rates';

interface QueueState {
  /** RabbitMQ's ready count: work messages the broker holds (a batched one carries several jobs). */
  ready: number;
  consumers: number;
  /** Queued in PostgreSQL, not released yet. */
  backlog: number;
  /** Released to RabbitMQ, not claimed yet. */
  released: number;
  scheduled: number;
  paused: boolean;
  /** Jobs this process accepted since the last depth poll (not in `backlog` yet). */
  sinceLastPoll: number;
  /** Running jobs. */
  inFlight: number;
  /** Queued jobs per priority (PostgreSQL, the backlog poll), for "ahead at equal or higher priority". */
  queuedByPriority: number[];
  oldestQueuedAt: Date | null;
  /** Jobs that completed or failed in the last RATE_WINDOW_S (the tracker's counters in Redis). */
  finishedInWindow: number;
  /** Attempts that started in the last START_WINDOW_S (the tracker's counters in Redis). */
  startedInWindow: number;
  level: QueueLevel;
}

/**
 * Queue depths and rates, read in the background so that no request waits for them: every second
 * the PostgreSQL backlog (queued + released: SPEC §4 `queue_full` and the warning/critical levels,
 * logged and exported as `switchyard_queue_level`) with its counts per priority, scheduled and
 * running jobs and the paused flag, in one statement; every second RabbitMQ's ready count and
 * consumers; every two seconds the recent starts and completions (wait estimates, `/queues`),
 * which the progress-tracker counts in Redis (QueueRates), so no poll reads a row per recent job.
 * The PostgreSQL poll waits longer while it is slow (pollDelay); jobs this process accepts
 * meanwhile count at once.
 */
@Injectable()
export class QueueMonitor implements OnModuleInit, OnApplicationShutdown {
  private readonly states = new Map<string, QueueState>();
  private readonly timers = new Map<Poll, NodeJS.Timeout>();
  private readonly polls = new Map<Poll, Promise<void>>();
  private stopped = false;
  private readonly levelGauge: Gauge<'queue'>;

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(HANDLER_REGISTRY) registry: HandlerRegistry<AnyJobTypeDefinition>,
    @Inject(METRICS) metrics: Registry,
    private readonly amqp: AmqpClient,
    private readonly queries: JobQueriesRepository,
    private readonly settings: QueueSettingsRepository,
    private readonly rates: QueueRates,
  ) {
    for (const queue of registry.queues()) {
      this.states.set(queue, {
        ready: 0,
        consumers: 0,
        backlog: 0,
        released: 0,
        scheduled: 0,
        paused: false,
        sinceLastPoll: 0,
        inFlight: 0,
        queuedByPriority: Array<number>(10).fill(0),
        oldestQueuedAt: null,
        finishedInWindow: 0,
        startedInWindow: 0,
        level: 'ok',
      });
    }
    this.levelGauge = gauge(
      metrics,
      `${METRIC_PREFIX}queue_level`,
      'Backlog level per work queue as the gateway sees it (queued jobs in PostgreSQL, released or not): 0 ok, 1 warning, 2 critical (full)',
      ['queue'],
    );
    for (const queue of this.states.keys()) this.levelGauge.set({ queue }, 0);
  }

  async onModuleInit(): Promise<void> {
    await Promise.allSettled([this.pollBacklog(), this.pollBroker(), this.pollRates()]);
    // One poll of each kind at a time, each paced by its own cost (pollDelay): a slow broker or
    // database never piles polls up, and counts over a large backlog take a bounded share of it.
    this.pace('backlog', () => this.pollBacklog(), DEPTH_POLL_MS);
    this.pace('broker', () => this.pollBroker(), DEPTH_POLL_MS);
    this.pace('rates', () => this.pollRates(), RATES_POLL_MS);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    await Promise.allSettled([...this.polls.values()]);
  }

  /** Runs `poll` again `pollDelay(intervalMs, its last duration)` after each run ends. */
  private pace(name: Poll, poll: () => Promise<void>, intervalMs: number, lastMs = 0): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      const started = performance.now();
      const run = poll().finally(() => {
        this.polls.delete(name);
        this.pace(name, poll, intervalMs, performance.now() - started);
      });
      this.polls.set(name, run);
    }, pollDelay(intervalMs, lastMs));
    timer.unref();
    this.timers.set(name, timer);
  }

  queues(): string[] {
    return [...this.states.keys()];
  }

  /** Records a pause or resume this process just wrote, ahead of the next depth poll. */
  notePaused(queue: string, paused: boolean): void {
    const state = this.states.get(queue);
    if (state) state.paused = paused;
  }

  /** Throws 503 `queue_full` (with Retry-After) when `count` more jobs would pass QUEUE_MAX_DEPTH. */
  assertRoom(queue: string, count: number): void {
    const state = this.states.get(queue);
    if (!state) return;
    const depth = this.depth(state);
    if (depth + count <= this.config.QUEUE_MAX_DEPTH) return;
    const excess = depth + count - this.config.QUEUE_MAX_DEPTH;
    const retryAfter = clamp(Math.ceil((excess * this.msPerJob(state)) / 1000), 1, 300);
    throw new ApiError(
      'queue_full',
      `queue "${queue}" is full (${depth} queued jobs, at most ${this.config.QUEUE_MAX_DEPTH}); retry after ${retryAfter} s`,
      [],
      { 'retry-after': String(retryAfter) },
    );
  }

  /** Counts jobs this process just accepted, until the next depth poll sees them in PostgreSQL. */
  noteDispatched(queue: string, count: number): void {
    const state = this.states.get(queue);
    if (state) state.sinceLastPoll += count;
  }

  /**
   * Estimated wait before a job of `priority` starts: the queued jobs at equal or higher priority
   * (plus `extraAhead`, e.g. earlier items of the same batch) that free worker slots cannot take
   * at once, at the queue's recent start rate. 0 while the free slots cover the jobs ahead.
   */
  estimateWaitMs(queue: string, priority: number, extraAhead = 0): number {
    const state = this.states.get(queue);
    if (!state) return 0;
    let ahead = extraAhead + state.sinceLastPoll;
    for (let p = priority; p < state.queuedByPriority.length; p++) ahead += state.queuedByPriority[p] ?? 0;
    return this.waitMs(state, ahead);
  }

  /** The time one job of `queue` takes at the recent rate (the last job of a batch adds it). */
  msPerJobOf(queue: string): number {
    const state = this.states.get(queue);
    return state ? Math.round(this.msPerJob(state)) : FALLBACK_MS_PER_JOB;
  }

  /** The wait for `ahead` jobs before this one, at the queue's rate (exact counts from a lookup). */
  waitForAhead(queue: string, ahead: number): number {
    const state = this.states.get(queue);
    return state ? this.waitMs(state, ahead) : 0;
  }

  /** Retry-After for a tenant over its quota: the time the queue needs to finish `excess` jobs. */
  retryAfterSeconds(queue: string, excess: number): number {
    const state = this.states.get(queue);
    return clamp(
      Math.ceil((Math.max(1, excess) * (state ? this.msPerJob(state) : FALLBACK_MS_PER_JOB)) / 1000),
      1,
      300,
    );
  }

  views(): QueueView[] {
    return [...this.states.keys()].map((queue) => this.viewOf(queue, this.states.get(queue) as QueueState));
  }

  /** One queue's row of `GET /queues`; undefined for a queue no job type uses. */
  view(queue: string): QueueView | undefined {
    const state = this.states.get(queue);
    return state ? this.viewOf(queue, state) : undefined;
  }

  private viewOf(queue: string, s: QueueState): QueueView {
    const depth = this.depth(s);
    return {
      queue,
      ready: s.ready,
      inFlight: s.inFlight,
      consumers: s.consumers,
      backlog: s.backlog + s.sinceLastPoll,
      released: s.released,
      scheduled: s.scheduled,
      running: s.inFlight,
      paused: s.paused,
      oldestAgeMs: s.oldestQueuedAt ? Math.max(0, Date.now() - s.oldestQueuedAt.getTime()) : null,
      completedPerMinute: Math.round((s.finishedInWindow / (RATE_WINDOW_S / 60)) * 10) / 10,
      // A paused queue starts nothing: no wait can be promised.
      estimatedWaitMs: s.paused ? null : this.waitMs(s, depth),
      level: this.levelOf(depth),
    };
  }

  /** The PostgreSQL backlog that counts against QUEUE_MAX_DEPTH: queued jobs, released or not. */
  private depth(state: QueueState): number {
    return state.backlog + state.released + state.sinceLastPoll;
  }

  /** True when some work queue has no consumer (no worker serves it): /api/v1/health. */
  queuesWithoutConsumers(): string[] {
    return [...this.states.entries()].filter(([, s]) => s.consumers === 0).map(([q]) => q);
  }

  /**
   * Worker slots of the queue not running a job: each consumer is a worker serving the queue with
   * WORKER_CONCURRENCY slots (its prefetch), less the jobs running now.
   */
  private freeSlots(state: QueueState): number {
    return Math.max(0, state.consumers * this.config.WORKER_CONCURRENCY - state.inFlight);
  }

  /** `ahead` jobs start first: the ones the free slots cannot take wait at the start rate. */
  private waitMs(state: QueueState, ahead: number): number {
    const waiting = ahead + 1 - this.freeSlots(state);
    return waiting <= 0 ? 0 : Math.round(waiting * this.msPerStart(state));
  }

  /** The time between job starts at the recent rate; the completion rate when nothing started lately. */
  private msPerStart(state: QueueState): number {
    if (state.startedInWindow > 0) return (START_WINDOW_S * 1000) / state.startedInWindow;
    return this.msPerJob(state);
  }

  private msPerJob(state: QueueState): number {
    if (state.finishedInWindow > 0) return (RATE_WINDOW_S * 1000) / state.finishedInWindow;
    return FALLBACK_MS_PER_JOB / Math.max(1, state.consumers);
  }

  private async pollBacklog(): Promise<void> {
    const queues = [...this.states.keys()];
    try {
      const [levels, settings] = await Promise.all([
        this.queries.queueLevels(queues),
        this.settings.settings(queues),
      ]);
      for (const [queue, state] of this.states) {
        const level = levels.get(queue);
        state.backlog = level?.backlog ?? 0;
        state.released = level?.released ?? 0;
        state.scheduled = level?.scheduled ?? 0;
        state.inFlight = level?.running ?? 0;
        state.oldestQueuedAt = level?.oldestQueuedAt ?? null;
        state.queuedByPriority = level?.queuedByPriority ?? Array<number>(10).fill(0);
        state.paused = settings.get(queue)?.paused ?? false;
        state.sinceLastPoll = 0;
        this.updateLevel(queue, state);
      }
    } catch (error) {
      this.logger.debug({ err: error }, 'queue backlog poll failed');
    }
  }

  private async pollBroker(): Promise<void> {
    if (!this.amqp.isConnected()) return;
    await Promise.all(
      [...this.states.entries()].map(async ([queue, state]) => {
        try {
          const stats = await this.amqp.queueStats(this.amqp.names.workQueue(queue));
          state.ready = stats.messageCount;
          state.consumers = stats.consumerCount;
        } catch (error) {
          this.logger.debug({ err: error, queue }, 'queue depth poll failed');
        }
      }),
    );
  }

  private async pollRates(): Promise<void> {
    try {
      const rates = await this.rates.read([...this.states.keys()], {
        startedS: START_WINDOW_S,
        finishedS: RATE_WINDOW_S,
      });
      for (const [queue, state] of this.states) {
        const counts = rates.get(queue);
        state.finishedInWindow = counts?.finished ?? 0;
        state.startedInWindow = counts?.started ?? 0;
      }
    } catch (error) {
      this.logger.debug({ err: error }, 'queue rates poll failed');
    }
  }

  private levelOf(depth: number): QueueLevel {
    if (depth >= this.config.QUEUE_MAX_DEPTH) return 'critical';
    return depth >= this.config.QUEUE_WARN_DEPTH ? 'warning' : 'ok';
  }

  private updateLevel(queue: string, state: QueueState): void {
    const level = this.levelOf(this.depth(state));
    if (level === state.level) return;
    const previous = state.level;
    state.level = level;
    this.levelGauge.set({ queue }, level === 'ok' ? 0 : level === 'warning' ? 1 : 2);
    const fields = {
      queue,
      backlog: state.backlog,
      released: state.released,
      level,
      previous,
      warnDepth: this.config.QUEUE_WARN_DEPTH,
      maxDepth: this.config.QUEUE_MAX_DEPTH,
    };
    if (level === 'ok') this.logger.info(fields, `queue ${queue} depth back to ok`);
    else this.logger.warn(fields, `queue ${queue} depth is ${level}`);
  }
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
