import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { AmqpClient } from '@switchyard/messaging';
import { JobsRepository, type OutboxRecord } from '@switchyard/persistence';
import { GATEWAY_CONFIG, LOGGER, type GatewayConfig, type Logger } from '../gateway.tokens';

const RELAY_BATCH = 500;

/**
 * Publishes what a transaction committed to the outbox. The fast path publishes right after the
 * commit; the relay republishes rows the fast path never confirmed (a crash, a broker outage)
 * within OUTBOX_MAX_DELAY_MS. A message may so be published twice; consumers are idempotent.
 */
@Injectable()
export class OutboxPublisher implements OnModuleInit, OnApplicationShutdown {
  private relayTimer: NodeJS.Timeout | undefined;
  private relaying: Promise<void> | undefined;
  private pendingDeletes: string[] = [];
  private deleteTimer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly jobs: JobsRepository,
    private readonly amqp: AmqpClient,
  ) {}

  onModuleInit(): void {
    const every = Math.max(100, Math.floor(this.config.OUTBOX_MAX_DELAY_MS / 5));
    this.relayTimer = setInterval(() => {
      this.relaying ??= this.relay().finally(() => (this.relaying = undefined));
    }, every);
    this.relayTimer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.relayTimer);
    await this.relaying;
    await this.flushDeletes();
  }

  /** Publishes committed rows; failures are left to the relay and never fail the request. */
  async publishCommitted(records: OutboxRecord[]): Promise<void> {
    if (this.config.FAULT_INJECT === 'crash_after_commit') {
      this.logger.fatal('fault injection: crashing between commit and publish');
      process.kill(process.pid, 'SIGKILL');
    }
    const published = await this.publishAll(records);
    this.scheduleDelete(published);
  }

  private async publishAll(records: OutboxRecord[]): Promise<string[]> {
    const results = await Promise.allSettled(
      records.map((r) => this.amqp.publish(r.exchange, r.routingKey, r.body, r.properties).then(() => r.id)),
    );
    const done: string[] = [];
    for (const result of results) {
      if (result.status === 'fulfilled') done.push(result.value);
      else this.logger.warn({ err: result.reason as unknown }, 'publish failed; the outbox relay will retry');
    }
    return done;
  }

  private scheduleDelete(ids: string[]): void {
    if (!ids.length) return;
    this.pendingDeletes.push(...ids);
    if (this.pendingDeletes.length >= RELAY_BATCH) {
      void this.flushDeletes();
    } else {
      this.deleteTimer ??= setTimeout(() => void this.flushDeletes(), 20);
    }
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
      const olderThan = Math.floor(this.config.OUTBOX_MAX_DELAY_MS / 2);
      const rows = await this.jobs.pendingOutbox(olderThan, RELAY_BATCH);
      if (!rows.length || !this.amqp.isConnected()) return;
      const published = await this.publishAll(rows);
      await this.jobs.deleteOutbox(published);
      this.logger.info({ count: published.length }, 'outbox relay republished messages');
    } catch (error) {
      this.logger.warn({ err: error }, 'outbox relay pass failed');
    }
  }
}
