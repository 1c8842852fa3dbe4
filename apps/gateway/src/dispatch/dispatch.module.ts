import { Inject, Injectable, Module, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { AnyJobTypeDefinition, HandlerRegistry } from '@switchyard/handler-sdk';
import { AmqpClient } from '@switchyard/messaging';
import { counter, METRIC_PREFIX } from '@switchyard/observability';
import { OutboxRelay } from '@switchyard/outbox';
import {
  DispatchRepository,
  JobsRepository,
  MaintenanceRepository,
  QueueSettingsRepository,
} from '@switchyard/persistence';
import type { Registry } from 'prom-client';
import {
  GATEWAY_CONFIG,
  HANDLER_REGISTRY,
  LOGGER,
  METRICS,
  type GatewayConfig,
  type Logger,
} from '../gateway.tokens';
import { batchSizeOf } from './batching';
import { Dispatcher } from './dispatcher';
import { TableMaintenance } from './table-maintenance';

/** Publishes the job.queued events of promoted jobs (an OutboxRelay that is never started). */
const PROMOTION_EVENTS = Symbol('PROMOTION_EVENTS');

/**
 * K of each job type (batching.ts): DISPATCH_BATCH_MAX for a short type, at most the workers'
 * prefetch (WORKER_CONCURRENCY); 1 for a long or unknown one.
 */
export function dispatchBatchSize(
  config: Pick<GatewayConfig, 'DISPATCH_BATCH_MAX' | 'WORKER_CONCURRENCY'>,
  registry: Pick<HandlerRegistry<AnyJobTypeDefinition>, 'get'>,
): (type: string) => number {
  const max = Math.min(config.DISPATCH_BATCH_MAX, config.WORKER_CONCURRENCY);
  return (type) => batchSizeOf(registry.get(type)?.defaults, max);
}

/** Starts the dispatcher with the app and stops it (timers, LISTEN) before the connections close. */
@Injectable()
class DispatcherLifecycle implements OnModuleInit, OnApplicationShutdown {
  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly maintenance: TableMaintenance,
    @Inject(PROMOTION_EVENTS) private readonly events: OutboxRelay,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.dispatcher.start();
    await this.maintenance.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.maintenance.stop();
    await this.dispatcher.stop();
    // Deletes the published outbox rows still pending; the gateway's relay republishes the rest.
    await this.events.stop();
  }
}

/** The dispatcher: releases queued jobs from PostgreSQL to RabbitMQ (see docs/architecture.md). */
@Module({
  providers: [
    {
      provide: Dispatcher,
      useFactory: (
        config: GatewayConfig,
        logger: Logger,
        registry: HandlerRegistry<AnyJobTypeDefinition>,
        metrics: Registry,
        store: DispatchRepository,
        settings: QueueSettingsRepository,
        events: OutboxRelay,
        amqp: AmqpClient,
      ) => {
        const released = counter(
          metrics,
          `${METRIC_PREFIX}dispatch_released_total`,
          'Jobs released from the PostgreSQL backlog to their work queue',
          ['queue'],
        );
        const rereleased = counter(
          metrics,
          `${METRIC_PREFIX}dispatch_rereleased_total`,
          'Released jobs released again because no worker claimed them within REDISPATCH_AFTER_MS',
          ['queue'],
        );
        return new Dispatcher(
          store,
          {
            publish: (name, payload, options) => amqp.publish(name, payload, options),
            consumerCount: async (queue) =>
              (await amqp.queueStats(amqp.names.workQueue(queue))).consumerCount,
          },
          settings,
          (records) => events.publishCommitted(records),
          {
            window: config.DISPATCH_WINDOW,
            // The worker's prefetch per work-queue consumer is its concurrency.
            prefetch: config.WORKER_CONCURRENCY,
            agingMs: config.PRIORITY_AGING_MS,
            redispatchAfterMs: config.REDISPATCH_AFTER_MS,
            batchSize: dispatchBatchSize(config, registry),
            queues: registry.queues(),
          },
          logger.child({ component: 'dispatcher' }),
          {
            released: (queue, count) => released.inc({ queue }, count),
            rereleased: (queue, count) => rereleased.inc({ queue }, count),
          },
        );
      },
      inject: [
        GATEWAY_CONFIG,
        LOGGER,
        HANDLER_REGISTRY,
        METRICS,
        DispatchRepository,
        QueueSettingsRepository,
        PROMOTION_EVENTS,
        AmqpClient,
      ],
    },
    {
      // Promotions' job.queued events are published at once; the gateway's relay repairs failures.
      provide: PROMOTION_EVENTS,
      useFactory: (config: GatewayConfig, logger: Logger, jobs: JobsRepository, amqp: AmqpClient) =>
        new OutboxRelay(jobs, amqp, logger, { maxDelayMs: config.OUTBOX_MAX_DELAY_MS }),
      inject: [GATEWAY_CONFIG, LOGGER, JobsRepository, AmqpClient],
    },
    {
      provide: TableMaintenance,
      useFactory: (config: GatewayConfig, logger: Logger, metrics: Registry, store: MaintenanceRepository) => {
        const vacuums = counter(
          metrics,
          `${METRIC_PREFIX}table_vacuums_total`,
          'VACUUMs of a hot table run by the gateway (VACUUM_DEAD_ROWS), with or without ANALYZE',
          ['table', 'analyze'],
        );
        return new TableMaintenance(
          store,
          { deadRows: config.VACUUM_DEAD_ROWS },
          logger.child({ component: 'table-maintenance' }),
          (table, analyze) => vacuums.inc({ table, analyze: String(analyze) }),
        );
      },
      inject: [GATEWAY_CONFIG, LOGGER, METRICS, MaintenanceRepository],
    },
    DispatcherLifecycle,
  ],
  exports: [Dispatcher],
})
export class DispatchModule {}
