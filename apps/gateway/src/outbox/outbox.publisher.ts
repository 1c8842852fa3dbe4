import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { AmqpClient } from '@switchyard/messaging';
import { OutboxRelay } from '@switchyard/outbox';
import { JobsRepository, type OutboxRecord } from '@switchyard/persistence';
import { GATEWAY_CONFIG, LOGGER, type GatewayConfig, type Logger } from '../gateway.tokens';

/** The gateway's outbox relay (see libs/outbox), started and stopped with the app. */
@Injectable()
export class OutboxPublisher implements OnModuleInit, OnApplicationShutdown {
  private readonly relay: OutboxRelay;

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

  onApplicationShutdown(): Promise<void> {
    return this.relay.stop();
  }

  async publishCommitted(records: OutboxRecord[]): Promise<void> {
    if (this.config.FAULT_INJECT === 'crash_after_commit') {
      // Test-only switch (off by default): die between the commit and the publish.
      this.logger.fatal('fault injection: crashing between commit and publish');
      process.kill(process.pid, 'SIGKILL');
    }
    await this.relay.publishCommitted(records);
  }
}
