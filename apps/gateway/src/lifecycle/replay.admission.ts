import { Inject, Injectable } from '@nestjs/common';
import { ApiError } from '@switchyard/contracts';
import { ActiveJobsCounter } from '../jobs/active-jobs.counter';
import { QueueMonitor } from '../queues/queue.monitor';
import { GATEWAY_CONFIG, type GatewayConfig } from '../gateway.tokens';

export interface ReplayTarget {
  tenant: string;
  queue: string;
}

/**
 * Retry and DLQ replay put jobs back into the active set, so they pass the same two checks as a
 * new submission (SPEC §4): the tenant's active-job quota (429 `tenant_quota_exceeded`) and the
 * queue depth (503 `queue_full`), both with Retry-After.
 */
@Injectable()
export class ReplayAdmission {
  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly active: ActiveJobsCounter,
    private readonly monitor: QueueMonitor,
  ) {}

  assertAdmissible(tenant: string, queue: string, count: number): Promise<void> {
    return this.assertAdmissibleMany(Array.from({ length: count }, () => ({ tenant, queue })));
  }

  async assertAdmissibleMany(targets: ReplayTarget[]): Promise<void> {
    const perTenant = new Map<string, { count: number; queue: string }>();
    const perQueue = new Map<string, number>();
    for (const t of targets) {
      const entry = perTenant.get(t.tenant) ?? { count: 0, queue: t.queue };
      entry.count += 1;
      perTenant.set(t.tenant, entry);
      perQueue.set(t.queue, (perQueue.get(t.queue) ?? 0) + 1);
    }
    const max = this.config.TENANT_MAX_ACTIVE_JOBS;
    for (const [tenant, { count, queue }] of perTenant) {
      const active = await this.active.current(tenant, count);
      if (active + count <= max) continue;
      const retryAfter = this.monitor.retryAfterSeconds(queue, active + count - max);
      throw new ApiError(
        'tenant_quota_exceeded',
        `the tenant has ${active} active jobs; running ${count} more would pass its quota of ${max}`,
        [],
        { 'retry-after': String(retryAfter) },
      );
    }
    for (const [queue, count] of perQueue) this.monitor.assertRoom(queue, count);
    for (const [tenant, { count }] of perTenant) this.active.add(tenant, count);
  }
}
