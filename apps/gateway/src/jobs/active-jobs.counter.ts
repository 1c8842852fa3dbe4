import { Inject, Injectable } from '@nestjs/common';
import { JobQueriesRepository } from '@switchyard/persistence';
import { GATEWAY_CONFIG, type GatewayConfig } from '../gateway.tokens';

/** A tenant's count is read from PostgreSQL at most this often. */
const REFRESH_MS = 1000;

/**
 * Active (queued, running, retrying) jobs per tenant for the quota check, without a count query
 * per submission: PostgreSQL's count, at most REFRESH_MS old, plus the jobs this process created
 * since. Exact within one gateway; across gateways a burst can overshoot by what the others
 * accepted within the refresh interval.
 */
@Injectable()
export class ActiveJobsCounter {
  private readonly counts = new Map<string, { at: number; count: Promise<number>; added: number }>();

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly queries: JobQueriesRepository,
  ) {}

  async current(tenant: string): Promise<number> {
    const now = Date.now();
    let entry = this.counts.get(tenant);
    if (!entry || now - entry.at >= REFRESH_MS) {
      // Counting stops past the quota: beyond it, how many more does not matter.
      const count = this.queries.activeCount(tenant, this.config.TENANT_MAX_ACTIVE_JOBS + 1);
      entry = { at: now, count, added: 0 };
      this.counts.set(tenant, entry);
      count.catch(() => this.counts.delete(tenant));
      if (this.counts.size > 10000) this.evict(now);
    }
    const fresh = entry;
    return (await fresh.count) + fresh.added;
  }

  /** Jobs this process just created for `tenant`. */
  add(tenant: string, created: number): void {
    const entry = this.counts.get(tenant);
    if (entry) entry.added += created;
  }

  private evict(now: number): void {
    for (const [tenant, entry] of this.counts) if (now - entry.at >= REFRESH_MS) this.counts.delete(tenant);
  }
}
