import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { StatsView } from '@switchyard/contracts';
import { AdmissionStore } from '@switchyard/live-state';
import { JobQueriesRepository } from '@switchyard/persistence';
import { LOGGER, REDIS, type Logger } from '../gateway.tokens';

/** Stats are computed at most this often per tenant: they scan the tenant's jobs. */
const CACHE_MS = 2000;
/** Tenants whose stats are held at once; the least recently asked for go first. */
const CACHE_TENANTS = 1000;

@Injectable()
export class StatsService {
  private readonly cache = new LRUCache<string, Promise<StatsView>>({ max: CACHE_TENANTS, ttl: CACHE_MS });

  constructor(
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly queries: JobQueriesRepository,
    private readonly admission: AdmissionStore,
  ) {}

  /** Stats of one tenant, or of every tenant (undefined: admin). */
  stats(tenant: string | undefined): Promise<StatsView> {
    const key = tenant ?? '\u0000all';
    const hit = this.cache.get(key);
    if (hit) return hit;
    const value = this.compute(tenant);
    this.cache.set(key, value);
    value.catch(() => this.cache.delete(key));
    return value;
  }

  private async compute(tenant: string | undefined): Promise<StatsView> {
    const [jobs, counters] = await Promise.all([this.queries.stats(tenant), this.counters(tenant)]);
    const lookups = counters.cache_hits + counters.cache_misses;
    return {
      tenant: tenant ?? null,
      counts: { byStatus: jobs.byStatus, byType: jobs.byType },
      throughput: {
        completedPerMinute: Math.round((jobs.completedLast5Minutes / 5) * 10) / 10,
        completedLastMinute: jobs.completedLastMinute,
        failedLast5Minutes: jobs.failedLast5Minutes,
        submittedLastMinute: jobs.submittedLastMinute,
      },
      durationMs: jobs.durationMs,
      cache: {
        hits: counters.cache_hits,
        misses: counters.cache_misses,
        hitRate: lookups === 0 ? null : Math.round((counters.cache_hits / lookups) * 1000) / 1000,
        dedupHits: counters.dedup_hits,
      },
    };
  }

  private async counters(tenant: string | undefined) {
    if (this.redis.status === 'ready') {
      try {
        return await this.admission.counters(tenant);
      } catch (error) {
        this.logger.debug({ err: error }, 'cache counters unavailable');
      }
    }
    return { cache_hits: 0, cache_misses: 0, dedup_hits: 0 };
  }
}
