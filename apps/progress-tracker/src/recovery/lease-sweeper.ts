import type { Logger } from '@switchyard/observability';
import type { OutboxRelay } from '@switchyard/outbox';
import type { LifecycleRepository } from '@switchyard/persistence';

/**
 * Finds jobs whose worker disappeared (lease expired) and hands them back, fails them with
 * `worker_lost` after their last attempt, or ends them cancelled when that was requested; and
 * re-dispatches retries whose delayed message never came back. Safe to run in several trackers.
 */
export class LeaseSweeper {
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;

  constructor(
    private readonly lifecycle: LifecycleRepository,
    private readonly outbox: OutboxRelay,
    private readonly logger: Logger,
    private readonly options: { intervalMs: number; retryOverdueMs: number },
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.sweeping ??= this.sweep().finally(() => (this.sweeping = undefined));
    }, this.options.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sweeping;
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
