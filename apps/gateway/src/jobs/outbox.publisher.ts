import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { AmqpClient } from '@switchyard/messaging';
import { OutboxRelay } from '@switchyard/outbox';
import { JobsRepository, type OutboxRecord } from '@switchyard/persistence';
import { GATEWAY_CONFIG, LOGGER, type GatewayConfig, type Logger } from '../gateway.tokens';

/** Unconfirmed background publishes beyond which submissions wait for their own confirms. */
const BACKGROUND_MAX_MESSAGES = 2000;
/** Shutdown waits at most this long for background publishes to be confirmed. */
const SHUTDOWN_WAIT_MS = 5000;

/** The gateway's outbox relay (see libs/outbox), started and stopped with the app. */
@Injectable()
export class OutboxPublisher implements OnModuleInit, OnApplicationShutdown {
  private readonly relay: OutboxRelay;
  /** Background publishes still waiting for their confirms; shutdown waits for them. */
  private readonly inFlight = new Set<Promise<void>>();
  private inFlightMessages = 0;

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    jobs: JobsRepository,
    amqp: AmqpClient,
  ) {
    this.relay = new OutboxRelay(jobs, amqp, logger, { maxDelayMs: config.OUTBOX_MAX_DELAY_MS });
  }

  onModuleInit(): void {
    this.relay.start();
  }

  async onApplicationShutdown(): Promise<void> {
    // Unconfirmed rows stay in the outbox and are published after a restart: never wait for ever.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, SHUTDOWN_WAIT_MS))),
    ]);
    clearTimeout(timer);
    await this.relay.stop();
  }

  /** Publishes committed outbox rows and waits for the broker's confirms. */
  async publishCommitted(records: OutboxRecord[]): Promise<void> {
    this.crashIfInjected();
    await this.relay.publishCommitted(records);
  }

  /**
   * Publishes committed outbox rows without holding up the caller: the rows are durable, so the
   * answer need not wait for the broker's confirms. Whatever is not confirmed (a crash, a broker
   * outage) the relay republishes within OUTBOX_MAX_DELAY_MS; a duplicate is harmless. While more
   * than BACKGROUND_MAX_MESSAGES are unconfirmed the caller waits after all (backpressure).
   * The encoding and the writes to the broker's socket start on the next event-loop turn
   * (setImmediate), so the caller's answer (the 202) is written first. Returns the publish to
   * wait for only under backpressure (undefined otherwise: nothing to wait for).
   */
  publishAfterCommit(records: OutboxRecord[]): Promise<void> | undefined {
    this.crashIfInjected();
    const count = records.length;
    this.inFlightMessages += count;
    const publishing = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.relay.publishCommitted(records))
      .catch((error: unknown) => {
        this.logger.warn({ err: error }, 'publish after commit failed; the outbox relay will retry');
      })
      .finally(() => {
        this.inFlightMessages -= count;
        this.inFlight.delete(publishing);
      });
    this.inFlight.add(publishing);
    return this.inFlightMessages > BACKGROUND_MAX_MESSAGES ? publishing : undefined;
  }

  private crashIfInjected(): void {
    if (this.config.FAULT_INJECT === 'crash_after_commit') {
      // Test-only switch (off by default): die between the commit and the publish, before answering.
      this.logger.fatal('fault injection: crashing between commit and publish');
      process.kill(process.pid, 'SIGKILL');
    }
  }
}
