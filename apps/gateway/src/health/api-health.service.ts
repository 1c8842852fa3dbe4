import type { StatsFs } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { Health, HealthCheck } from '@switchyard/contracts';
import { CircuitStates } from '@switchyard/live-state';
import { AmqpClient } from '@switchyard/messaging';
import { withTimeout } from '@switchyard/observability';
import { GATEWAY_CONFIG, REDIS, type GatewayConfig } from '../gateway.tokens';
import { QueueMonitor } from '../queues/queue.monitor';

export const DATABASE_PROBE = Symbol('DATABASE_PROBE');
export type DatabaseProbe = () => Promise<unknown>;

const CHECK_TIMEOUT_MS = 2000;
/** Reports are reused this long: health is polled, and each report costs a few round trips. */
const CACHE_MS = 1000;
const LOW_DISK_BYTES = 1024 ** 3;
const LOW_DISK_RATIO = 0.05;

/**
 * `GET /api/v1/health` (SPEC §4): unhealthy (503) when jobs cannot be accepted (database or broker
 * down); degraded when they can but something users notice is off (Redis down: no live progress,
 * rate limits fail open; little disk; a queue without workers; an open circuit).
 */
@Injectable()
export class ApiHealthService {
  /** One entry: the last report (or the one being computed, so concurrent polls share it). */
  private readonly reports = new LRUCache<'last', Promise<Health>>({ max: 1, ttl: CACHE_MS });
  private readonly circuitStates: CircuitStates;

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(DATABASE_PROBE) private readonly database: DatabaseProbe,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly amqp: AmqpClient,
    private readonly monitor: QueueMonitor,
  ) {
    // Read only: the workers write (and renew) the reports.
    this.circuitStates = new CircuitStates(redis, { prefix: config.REDIS_PREFIX, ttlMs: 0 });
  }

  report(): Promise<Health> {
    const cached = this.reports.get('last');
    if (cached) return cached;
    const report = this.compute();
    this.reports.set('last', report);
    return report;
  }

  private async compute(): Promise<Health> {
    const [database, redis, disk, circuits] = await Promise.all([
      timed(() => this.database()),
      timed(() => this.redis.ping()),
      this.disk(),
      this.circuits(),
    ]);
    const broker: HealthCheck = this.amqp.isConnected()
      ? { status: 'up' }
      : { status: 'down', detail: 'not connected' };
    const idle = this.monitor.queuesWithoutConsumers();
    const workers: HealthCheck =
      idle.length === 0
        ? { status: 'up' }
        : {
            status: idle.length === this.monitor.queues().length ? 'down' : 'degraded',
            detail: `no consumer on ${idle.join(', ')}`,
          };
    const checks = { database, broker, redis, disk, workers, circuits };
    const status =
      database.status === 'down' || broker.status === 'down'
        ? 'unhealthy'
        : Object.values(checks).every((c) => c.status === 'up')
          ? 'healthy'
          : 'degraded';
    return { status, checks };
  }

  private async disk(): Promise<HealthCheck> {
    try {
      const stats = await statfsNearest(resolve(this.config.ARTIFACTS_DIR));
      const free = stats.bavail * stats.bsize;
      const total = stats.blocks * stats.bsize;
      const detail = `${Math.round(free / 1024 ** 2)} MiB free of ${Math.round(total / 1024 ** 2)} MiB (ARTIFACTS_DIR)`;
      const low = free < LOW_DISK_BYTES || (total > 0 && free / total < LOW_DISK_RATIO);
      return { status: low ? 'degraded' : 'up', detail };
    } catch (error) {
      return { status: 'degraded', detail: error instanceof Error ? error.message : String(error) };
    }
  }

  /** Circuit states live workers' breakers report to Redis (`<REDIS_PREFIX>circuits:reports`). */
  private async circuits(): Promise<HealthCheck> {
    try {
      const states = await answerInTime(this.circuitStates.read());
      const open = Object.entries(states).filter(([, state]) => state === 'open' || state === 'half-open');
      if (!open.length)
        return { status: 'up', detail: `${Object.keys(states).length} providers, all closed` };
      return {
        status: 'degraded',
        detail: open.map(([provider, state]) => `${provider} ${state}`).join(', '),
      };
    } catch {
      return { status: 'degraded', detail: 'circuit states unavailable (Redis)' };
    }
  }
}

async function timed(probe: () => Promise<unknown>): Promise<HealthCheck> {
  const started = Date.now();
  try {
    await answerInTime(probe());
    return { status: 'up', latencyMs: Date.now() - started };
  } catch (error) {
    return {
      status: 'down',
      latencyMs: Date.now() - started,
      detail: error instanceof Error ? error.message : String(error),
    };
  }
}

function answerInTime<T>(promise: Promise<T>): Promise<T> {
  return withTimeout(promise, CHECK_TIMEOUT_MS, `no answer within ${CHECK_TIMEOUT_MS} ms`);
}

/** statfs of the directory, or of its nearest existing parent (it may not exist yet). */
async function statfsNearest(path: string): Promise<StatsFs> {
  try {
    return await statfs(path);
  } catch (error) {
    const parent = dirname(path);
    if (parent === path) throw error;
    return statfsNearest(parent);
  }
}
