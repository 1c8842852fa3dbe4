import type { AmqpClient } from '@switchyard/messaging';
import type { Logger } from '@switchyard/observability';
import type { JobsRepository, OutboxMessage, OutboxRecord } from '@switchyard/persistence';

const BATCH = 500;

/** One message to publish and the committed outbox rows it stands for. */
export interface MergedRows {
  message: OutboxMessage;
  ids: readonly string[];
}

/** A committed row published as written. */
const alone = (row: OutboxRecord): MergedRows => ({ message: row, ids: [row.id] });

export interface OutboxRelayOptions {
  /** OUTBOX_MAX_DELAY_MS: a committed message is published within this long. */
  maxDelayMs: number;
}

/**
 * Publishes what transactions committed to the outbox. The fast path publishes right after the
 * commit; the relay republishes rows the fast path never confirmed (a crash, a broker outage)
 * within `maxDelayMs`. A message may so be published twice; every consumer is idempotent.
 * The gateway and the progress-tracker both run one.
 */
export class OutboxRelay {
  private timer: NodeJS.Timeout | undefined;
  private relaying: Promise<void> | undefined;
  private pendingDeletes: string[] = [];
  private deleteTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly jobs: JobsRepository,
    private readonly amqp: AmqpClient,
    private readonly logger: Logger,
    private readonly options: OutboxRelayOptions,
  ) {}

  start(): void {
    const every = Math.max(100, Math.floor(this.options.maxDelayMs / 5));
    this.timer = setInterval(() => {
      this.relaying ??= this.relay().finally(() => (this.relaying = undefined));
    }, every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.relaying;
    await this.flushDeletes();
  }

  /** Publishes committed rows; failures are left to the relay and never fail the caller. */
  async publishCommitted(records: OutboxRecord[]): Promise<void> {
    await this.publishMerged(records.map(alone));
  }

  /**
   * Publishes messages that each stand for one or more committed rows (work messages merged from
   * several inserts): a confirmed message's rows are deleted, an unconfirmed one's are left to the
   * relay, which publishes each row as it was written (a duplicate is harmless).
   */
  async publishMerged(merged: readonly MergedRows[]): Promise<void> {
    this.scheduleDelete(await this.publishAll(merged));
  }

  /** The ids of the rows whose message the broker confirmed. */
  private async publishAll(merged: readonly MergedRows[]): Promise<string[]> {
    const results = await Promise.allSettled(
      merged.map(({ message, ids }) =>
        this.amqp.publish(message.name, message.payload, message.options).then(() => ids),
      ),
    );
    const done: string[] = [];
    for (const result of results) {
      if (result.status === 'fulfilled') done.push(...result.value);
      else this.logger.warn({ err: result.reason as unknown }, 'publish failed; the outbox relay will retry');
    }
    return done;
  }

  private scheduleDelete(ids: string[]): void {
    if (!ids.length) return;
    this.pendingDeletes.push(...ids);
    if (this.pendingDeletes.length >= BATCH) void this.flushDeletes();
    else this.deleteTimer ??= setTimeout(() => void this.flushDeletes(), 20);
  }

  private async flushDeletes(): Promise<void> {
    clearTimeout(this.deleteTimer);
    this.deleteTimer = undefined;
    const ids = this.pendingDeletes;
    this.pendingDeletes = [];
    try {
      await this.jobs.deleteOutbox(ids);
    } catch (error) {
      // Rows left behind are published again by the relay; duplicates are harmless.
      this.logger.warn({ err: error, count: ids.length }, 'could not delete published outbox rows');
    }
  }

  private async relay(): Promise<void> {
    try {
      if (!this.amqp.isConnected()) return;
      const rows = await this.jobs.pendingOutbox(Math.floor(this.options.maxDelayMs / 2), BATCH);
      if (!rows.length) return;
      const published = await this.publishAll(rows.map(alone));
      await this.jobs.deleteOutbox(published);
      this.logger.info({ count: published.length }, 'outbox relay published messages the fast path had not');
    } catch (error) {
      this.logger.warn({ err: error }, 'outbox relay pass failed');
    }
  }
}
