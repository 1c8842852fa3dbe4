import 'reflect-metadata';
import { MetricsConfigSchema, type MetricsConfig } from '@switchyard/config';
import { JOB_EVENT_BATCH_MAX } from '@switchyard/contracts';
import {
  bootService,
  probeCheck,
  rabbitmqCheck,
  type ServiceContext,
  type ServiceParts,
} from '@switchyard/observability';
import { JobMetricsRepository, LimitsRepository, QueueSettingsRepository } from '@switchyard/persistence';
import { openConnections } from '@switchyard/service-kit';
import { EventConsumer, METRICS_BATCH_WINDOW_MS, METRICS_PREFETCH_FACTOR } from './event-consumer';
import { EventRecorder } from './event-recorder';
import { createJobMetrics } from './job-metrics';
import { QueuePoller } from './queue-poller';

const SERVICE = 'metrics';

/**
 * SPEC §8 job and queue metrics from the lifecycle event batches and from polling the queues.
 * Counters live in this process: a restart starts them at 0 again, which Prometheus's rate() and
 * increase() treat as a counter reset (docs/operations.md). Batches published meanwhile wait in
 * the durable `<prefix>.metrics` queue and are counted after the restart.
 */
async function connect({
  config,
  logger,
  metrics: registry,
}: ServiceContext<MetricsConfig>): Promise<ServiceParts> {
  // Read-only: priorities of accepted jobs and per-queue states the broker does not know.
  const { db, amqp } = await openConnections(config, {
    service: SERVICE,
    connectionName: SERVICE,
    logger: logger.child({ component: 'amqp' }),
  });

  const jobMetrics = createJobMetrics(registry);
  const recorder = new EventRecorder(jobMetrics);
  const store = new JobMetricsRepository(db);
  const limits = new LimitsRepository(db);
  const prefetch = config.AMQP_PREFETCH * METRICS_PREFETCH_FACTOR;
  const consumer = new EventConsumer(
    {
      queue: amqp.names.metricsQueue,
      prefetch,
      batchWindowMs: METRICS_BATCH_WINDOW_MS,
      // About one producer turn's acceptances per priority lookup.
      maxBatch: JOB_EVENT_BATCH_MAX,
    },
    amqp,
    recorder,
    (ids) => store.priorities(ids),
    jobMetrics,
    logger.child({ component: 'events' }),
  );
  const poller = new QueuePoller(
    {
      intervalMs: config.QUEUE_POLL_MS,
      warnDepth: config.QUEUE_WARN_DEPTH,
      maxDepth: config.QUEUE_MAX_DEPTH,
      names: amqp.names,
      extraQueues: () => recorder.queues(),
    },
    amqp,
    {
      queueStates: () => store.queueStates(),
      concurrencyInUse: async () =>
        (await limits.listConcurrency()).map(({ key, inUse }) => ({ key, inUse })),
      rateLimitHolds: () => limits.rateHolds(),
    },
    new QueueSettingsRepository(db),
    registry,
    logger.child({ component: 'queues' }),
  );

  // The queue is bound before the service reports ready, so no event published after that is missed.
  await consumer.start();
  poller.start();
  return {
    checks: [probeCheck('postgres', () => store.ping()), rabbitmqCheck(amqp)],
    shutdown: [() => consumer.stop(), () => poller.stop()],
    connections: { amqp, db },
  };
}

bootService({
  service: SERVICE,
  config: MetricsConfigSchema,
  port: (config) => config.METRICS_PORT,
  connect,
});
