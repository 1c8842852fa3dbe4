import { Inject, Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { JobQueriesRepository } from '@switchyard/persistence';
import { GATEWAY_CONFIG, type GatewayConfig } from '../gateway.tokens';

/** A tenant's count is read from PostgreSQL again once it is this old. */
const REFRESH_MS = 1000;
/** Up to this age a count still answers at once while a newer one is read in the background. */
const STALE_MS = 3000;
/** Background reads of several tenants are gathered for this long into one statement. */
const GATHER_MS = 100;
/** Tenants whose counts are kept; the least recently used is forgotten (and read again). */
const MAX_TENANTS = 10000;

interface Entry {
  /** PostgreSQL's count when the read began at `at`. */
  count: number;
  at: number;
  /** Jobs this process created for the tenant since `at`. */
  added: number;
}

/** Reads the counts of these tenants, each stopping at `cap`. */
type CountRead = (tenants: readonly string[], cap: number) => Promise<Map<string, number>>;

/**
 * Jobs per tenant in some states for a quota check, without a count query
 * per submission: PostgreSQL's count plus the jobs this process created since it was read. Within
 * one gateway that never undercounts (jobs that finished since only make it higher), so a count
 * up to STALE_MS old answers at once while a newer one is read in the background, several
 * tenants in one statement; a count that would refuse the submission is read afresh first.
 * Across gateways a burst can overshoot by what the others accepted within STALE_MS.
 */
export class TenantJobsCounter {
  private readonly counts = new LRUCache<string, Entry>({ max: MAX_TENANTS });
  /** Reads under way, per tenant: when each began and what this process created since. */
  private readonly refreshing = new Map<string, { at: number; added: number }>();
  /** Reads queued or under way, per tenant: one at a time, shared by whoever waits. */
  private readonly pending = new Map<string, Promise<void>>();
  /** Tenants for the next statement. */
  private readonly wanted = new Map<string, { resolve: () => void; reject: (error: unknown) => void }>();
  private flushTimer: NodeJS.Timeout | undefined;
  private flushUrgent = false;

  constructor(
    /** The quota: counting stops past it. */
    private readonly max: number,
    private readonly readCounts: CountRead,
  ) {}

  /**
   * The tenant's jobs, for a submission that would add `adding`: from memory when that is
   * recent enough, or when it leaves room anyway; otherwise read from PostgreSQL.
   */
  async current(tenant: string, adding = 0): Promise<number> {
    const known = this.known(tenant, adding);
    if (known !== undefined) return known;
    await this.read(tenant, true);
    const fresh = this.counts.get(tenant);
    if (!fresh) throw new Error(`no active-job count for tenant ${tenant}`);
    return fresh.count + fresh.added;
  }

  /**
   * current() when it answers from memory (starting the background read it would start), without
   * a promise; undefined when the count must be read first.
   */
  known(tenant: string, adding = 0): number | undefined {
    const entry = this.counts.get(tenant);
    if (!entry) return undefined;
    const age = Date.now() - entry.at;
    const value = entry.count + entry.added;
    if (age < REFRESH_MS) return value;
    if (age < STALE_MS && value + adding <= this.max) {
      this.read(tenant, false).catch(() => undefined);
      return value;
    }
    return undefined;
  }

  /** Jobs this process just created for `tenant`. */
  add(tenant: string, created: number): void {
    const entry = this.counts.get(tenant);
    if (entry) entry.added += created;
    const refresh = this.refreshing.get(tenant);
    if (refresh) refresh.added += created;
  }

  /** A read of `tenant` (joining one already queued or under way); `urgent` when a request waits. */
  private read(tenant: string, urgent: boolean): Promise<void> {
    let reading = this.pending.get(tenant);
    if (!reading) {
      reading = new Promise<void>((resolve, reject) => this.wanted.set(tenant, { resolve, reject }));
      const settled = reading.then(
        () => this.pending.delete(tenant),
        () => this.pending.delete(tenant),
      );
      void settled;
      this.pending.set(tenant, reading);
    }
    if (this.wanted.has(tenant)) this.schedule(urgent);
    return reading;
  }

  private schedule(urgent: boolean): void {
    if (this.flushTimer && (this.flushUrgent || !urgent)) return;
    clearTimeout(this.flushTimer);
    this.flushUrgent = urgent;
    this.flushTimer = setTimeout(() => void this.flush(), urgent ? 0 : GATHER_MS);
  }

  private async flush(): Promise<void> {
    this.flushTimer = undefined;
    const batch = new Map(this.wanted);
    this.wanted.clear();
    const tenants = [...batch.keys()];
    // From here on, what this process creates is on top of the count being read.
    const started = Date.now();
    for (const tenant of tenants) this.refreshing.set(tenant, { at: started, added: 0 });
    try {
      // Counting stops past the quota: beyond it, how many more does not matter.
      const counts = await this.readCounts(tenants, this.max + 1);
      for (const [tenant, waiter] of batch) {
        const refresh = this.refreshing.get(tenant);
        this.refreshing.delete(tenant);
        if (refresh) this.counts.set(tenant, { count: counts.get(tenant) ?? 0, ...refresh });
        waiter.resolve();
      }
    } catch (error) {
      for (const [tenant, waiter] of batch) {
        this.refreshing.delete(tenant);
        waiter.reject(error);
      }
    }
  }
}

/** Active (queued, running, retrying) jobs per tenant: TENANT_MAX_ACTIVE_JOBS. */
@Injectable()
export class ActiveJobsCounter extends TenantJobsCounter {
  constructor(@Inject(GATEWAY_CONFIG) config: GatewayConfig, queries: JobQueriesRepository) {
    super(config.TENANT_MAX_ACTIVE_JOBS, (tenants, cap) => queries.activeCounts(tenants, cap));
  }
}

/** `scheduled` jobs per tenant: TENANT_MAX_SCHEDULED_JOBS (they do not count as active). */
@Injectable()
export class ScheduledJobsCounter extends TenantJobsCounter {
  constructor(@Inject(GATEWAY_CONFIG) config: GatewayConfig, queries: JobQueriesRepository) {
    super(config.TENANT_MAX_SCHEDULED_JOBS, (tenants, cap) => queries.scheduledCounts(tenants, cap));
  }
}
