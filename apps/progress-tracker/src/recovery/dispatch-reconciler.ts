import type { Logger } from '@switchyard/observability';
import type { OutboxRelay } from '@switchyard/outbox';
import type { LifecycleRepository } from '@switchyard/persistence';
import { PeriodicPass } from './periodic-pass';

export interface DispatchReconcilerOptions {
  /** How often to look (SWEEP_INTERVAL_MS). */
  intervalMs: number;
  /** A queued job's message counts as lost once it is this old and its queue passed it (REDISPATCH_AFTER_MS). */
  redispatchAfterMs: number;
  /** Most jobs re-dispatched per pass; the next pass takes the rest. */
  batchSize?: number;
}

/** How many messages RabbitMQ holds ready (not yet delivered) in a queue's work queue. */
export type ReadyCount = (queue: string) => Promise<number>;

/**
 * Repairs `queued` jobs that have no live message, from PostgreSQL alone (RabbitMQ may be what
 * lost it): each pass re-dispatches, in bounded batches, the queued rows the repository judges
 * orphaned (see `LifecycleRepository.redispatchOrphanedQueued`), through the outbox. Several
 * trackers may run it; a duplicate message is harmless because a claim is conditional.
 */
export class DispatchReconciler extends PeriodicPass {
  constructor(
    private readonly lifecycle: LifecycleRepository,
    private readonly outbox: OutboxRelay,
    private readonly logger: Logger,
    private readonly options: DispatchReconcilerOptions,
    private readonly readyCount: ReadyCount,
  ) {
    super(options.intervalMs);
  }

  protected runPass(): Promise<unknown> {
    return this.reconcile();
  }

  /** One pass; returns how many jobs it dispatched again. */
  async reconcile(): Promise<number> {
    const batchSize = this.options.batchSize ?? 500;
    let total = 0;
    try {
      const drained = await this.drainedQueues();
      // Drains what is orphaned now, a batch per transaction, without holding many row locks at once.
      for (let pass = 0; pass < 20; pass++) {
        const orphaned = await this.lifecycle.redispatchOrphanedQueued(
          this.options.redispatchAfterMs,
          drained,
          batchSize,
        );
        total += orphaned.rows.length;
        await this.outbox.publishCommitted(orphaned.outbox);
        if (orphaned.rows.length < batchSize) break;
      }
      if (total) this.logger.warn({ count: total }, 're-dispatched queued jobs whose message was lost');
    } catch (error) {
      this.logger.warn({ err: error }, 'dispatch reconciliation failed');
    }
    return total;
  }

  /**
   * Queues with queued jobs whose work queue holds no ready message: there an idle queue's queued
   * job has no live message. A queue RabbitMQ cannot report on is left out of the idle rule for
   * this pass (its jobs are repaired only by the passed-over rule).
   */
  private async drainedQueues(): Promise<string[]> {
    const queues = await this.lifecycle.queuedQueues();
    const ready = await Promise.all(
      queues.map((queue) => this.readyCount(queue).catch(() => Number.POSITIVE_INFINITY)),
    );
    return queues.filter((_, i) => ready[i] === 0);
  }
}
