import type { Logger } from '@switchyard/observability';
import type { OutboxRelay } from '@switchyard/outbox';
import type { LifecycleRepository } from '@switchyard/persistence';
import { PeriodicPass } from './periodic-pass';

/**
 * Finds jobs whose worker disappeared (lease expired) and hands them back to the backlog (the
 * repository notifies the dispatchers, which release them again), fails them with
 * `worker_lost` after their last attempt, or ends them cancelled when that was requested; and
 * re-dispatches retries whose delayed message never came back. Safe to run in several trackers.
 */
export class LeaseSweeper extends PeriodicPass {
  constructor(
    private readonly lifecycle: LifecycleRepository,
    private readonly outbox: OutboxRelay,
    private readonly logger: Logger,
    private readonly options: { intervalMs: number; retryOverdueMs: number },
  ) {
    super(options.intervalMs);
  }

  protected runPass(): Promise<unknown> {
    return this.sweep();
  }

  async sweep(): Promise<void> {
    try {
      const lost = await this.lifecycle.recoverExpiredLeases();
      for (const row of lost.rows) {
        this.logger.warn(
          {
            correlationId: row.correlation_id,
            jobId: row.id,
            tenant: row.tenant,
            type: row.type,
            status: row.status,
          },
          'lease expired: the job lost its worker',
        );
      }
      const overdue = await this.lifecycle.redispatchOverdueRetries(this.options.retryOverdueMs);
      if (overdue.rows.length)
        this.logger.warn({ count: overdue.rows.length }, 're-dispatched overdue retries');
      await this.outbox.publishCommitted([...lost.outbox, ...overdue.outbox]);
    } catch (error) {
      this.logger.warn({ err: error }, 'sweep failed');
    }
  }
}
