import { Inject, Injectable } from '@nestjs/common';
import { ApiError } from '@switchyard/contracts';
import { GATEWAY_CONFIG, type GatewayConfig } from '../gateway.tokens';
import { QueueMonitor } from '../queues/queue.monitor';
import { ActiveJobsCounter } from './active-jobs.counter';

/**
 * Admission limits of a submission (SPEC §4): the tenant's active-job quota and the queues' depth.
 * Request rates are the rate-limit guard's, before a submission gets here.
 */
@Injectable()
export class SubmissionLimits {
  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly monitor: QueueMonitor,
    private readonly active: ActiveJobsCounter,
  ) {}

  /**
   * Starts reading the tenant's active jobs for a submission of `adding` jobs; usually answered
   * from memory. Started early so that it runs alongside the idempotency checks; a failure is
   * reported when the count is awaited.
   */
  activeJobs(tenant: string, adding: number): Promise<number> {
    const active = this.active.current(tenant, adding);
    active.catch(() => undefined);
    return active;
  }

  /** Refuses jobs for `queues` (one entry per job) beyond the tenant quota or a queue's depth. */
  assertRoom(active: number, queues: readonly string[]): void {
    this.assertQuota(active, queues.length, queues[0] ?? '');
    if (queues.length === 1) {
      this.monitor.assertRoom(queues[0], 1);
      return;
    }
    const perQueue = new Map<string, number>();
    for (const queue of queues) perQueue.set(queue, (perQueue.get(queue) ?? 0) + 1);
    for (const [queue, count] of perQueue) this.monitor.assertRoom(queue, count);
  }

  /** Jobs just created for `tenant`, counted until the next read of its active jobs. */
  created(tenant: string, count: number): void {
    this.active.add(tenant, count);
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
}
