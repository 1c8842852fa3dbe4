import { Inject, Injectable } from '@nestjs/common';
import { ApiError } from '@switchyard/contracts';
import { GATEWAY_CONFIG, type GatewayConfig } from '../gateway.tokens';
import { QueueMonitor } from '../queues/queue.monitor';
import { TenantBudgets } from '../usage/tenant-budgets';
import { ActiveJobsCounter, ScheduledJobsCounter } from './active-jobs.counter';

/** What a submission adds: a queue per job, and whether the job is delayed (`scheduled`). */
export interface Admitted {
  queue: string;
  runAt: string | null;
}

/** The tenant's counts a submission is checked against. */
export interface TenantCounts {
  tenant: string;
  active: number;
  /** Read only when the submission has delayed jobs (0 otherwise). */
  scheduled: number;
}

/**
 * Admission limits of a submission (SPEC §4): the tenant's active-job quota, its scheduled-job
 * quota (delayed jobs count there, not as active) and the queues' depth. Request rates are the
 * rate-limit guard's, before a submission gets here.
 */
@Injectable()
export class SubmissionLimits {
  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly monitor: QueueMonitor,
    private readonly active: ActiveJobsCounter,
    private readonly scheduled: ScheduledJobsCounter,
    private readonly budgets: TenantBudgets,
  ) {}

  /**
   * Starts reading the tenant's counts for a submission of `items`; usually answered from memory.
   * Started early so that it runs alongside the idempotency checks; a failure is reported when
   * the counts are awaited.
   */
  counts(tenant: string, items: readonly Admitted[]): TenantCounts | Promise<TenantCounts> {
    const delayed = items.filter((item) => item.runAt !== null).length;
    if (!delayed) {
      // The usual case, answered from memory at once.
      const active = this.active.known(tenant, items.length);
      if (active !== undefined) return { tenant, active, scheduled: 0 };
    }
    const counts = Promise.all([
      this.active.current(tenant, items.length - delayed),
      delayed ? this.scheduled.current(tenant, delayed) : 0,
    ]).then(([active, scheduled]) => ({ tenant, active, scheduled }));
    counts.catch(() => undefined);
    return counts;
  }

  /** Refuses `items` past the tenant's usage budgets, beyond its quotas or a queue's depth. */
  assertRoom(counts: TenantCounts, items: readonly Admitted[]): void {
    this.budgets.assertWithin(counts.tenant);
    const queued = items.filter((item) => item.runAt === null);
    const delayed = items.length - queued.length;
    if (queued.length) this.assertQuota(counts.active, queued.length, queued[0]?.queue ?? '');
    if (delayed) this.assertScheduledQuota(counts.scheduled, delayed);
    // Delayed jobs join no queue before their time.
    if (queued.length === 1 && queued[0]) {
      this.monitor.assertRoom(queued[0].queue, 1);
      return;
    }
    const perQueue = new Map<string, number>();
    for (const { queue } of queued) perQueue.set(queue, (perQueue.get(queue) ?? 0) + 1);
    for (const [queue, count] of perQueue) this.monitor.assertRoom(queue, count);
  }

  /** Jobs just created for `tenant`, counted until the next read of its counts. */
  created(tenant: string, rows: readonly { status: string }[]): void {
    const delayed = rows.filter((row) => row.status === 'scheduled').length;
    if (rows.length > delayed) this.active.add(tenant, rows.length - delayed);
    if (delayed) this.scheduled.add(tenant, delayed);
  }

  private assertQuota(active: number, adding: number, queue: string): void {
    const max = this.config.TENANT_MAX_ACTIVE_JOBS;
    if (active + adding <= max) return;
    const retryAfter = this.monitor.retryAfterSeconds(queue, active + adding - max);
    throw new ApiError(
      'tenant_quota_exceeded',
      `the tenant has ${active >= max ? `${max} or more` : active} active jobs; at most ${max} may be queued, running or retrying`,
      [],
      { 'retry-after': String(retryAfter) },
    );
  }

  private assertScheduledQuota(scheduled: number, adding: number): void {
    const max = this.config.TENANT_MAX_SCHEDULED_JOBS;
    if (scheduled + adding <= max) return;
    // Scheduled jobs leave the set at their run time, which no rate predicts: a fixed pause.
    throw new ApiError(
      'tenant_quota_exceeded',
      `the tenant has ${scheduled >= max ? `${max} or more` : scheduled} scheduled jobs; at most ${max} may wait for their run time`,
      [],
      { 'retry-after': '60' },
    );
  }
}
