import 'reflect-metadata';
import { Gauge } from 'prom-client';
import { amqpNames } from '@switchyard/contracts';
import { TrackerConfigSchema, type TrackerConfig } from '@switchyard/config';
import { FileArtifactStore, FileUploadStore } from '@switchyard/storage';
import { createRedis, LiveProgressStore } from '@switchyard/live-state';
import {
  bootService,
  METRIC_PREFIX,
  postgresCheck,
  rabbitmqCheck,
  redisCheck,
  type ServiceContext,
  type ServiceParts,
} from '@switchyard/observability';
import { OutboxRelay } from '@switchyard/outbox';
import {
  JobsRepository,
  LifecycleRepository,
  ProjectionRepository,
  RetentionRepository,
} from '@switchyard/persistence';
import { openConnections } from '@switchyard/service-kit';
import { EventProjector } from './projection/event-projector';
import { LeaseSweeper } from './recovery/lease-sweeper';
import { RetentionService, retentionOptions } from './retention/retention.service';

const SERVICE = 'progress-tracker';

async function connect({ config, logger, metrics }: ServiceContext<TrackerConfig>): Promise<ServiceParts> {
  const redis = createRedis(config.REDIS_URL, {
    connectionName: SERVICE,
    onError: (error) => logger.warn({ err: error }, 'redis error'),
  });
  const { db, amqp } = await openConnections(config, {
    service: SERVICE,
    connectionName: amqpNames(config.AMQP_PREFIX).connectionName(SERVICE),
    logger,
  });

  const jobs = new JobsRepository(db);
  const outbox = new OutboxRelay(jobs, amqp, logger, { maxDelayMs: config.OUTBOX_MAX_DELAY_MS });
  const sweeper = new LeaseSweeper(new LifecycleRepository(db, amqp.names, SERVICE), outbox, logger, {
    intervalMs: config.SWEEP_INTERVAL_MS,
    retryOverdueMs: config.RETRY_OVERDUE_MS,
  });
  const live = new LiveProgressStore(redis, { prefix: config.REDIS_PREFIX, ttlSeconds: config.LIVE_TTL_S });
  const projector = new EventProjector(
    {
      queue: amqp.names.trackerQueue,
      batchSize: config.TRACKER_BATCH_SIZE,
      flushMs: config.TRACKER_FLUSH_MS,
    },
    amqp,
    live,
    new ProjectionRepository(db),
    logger,
  );
  projector.registerMetrics(metrics);
  new Gauge({
    name: `${METRIC_PREFIX}tracker_lag_seconds`,
    help: 'Time between the newest projected event and its projection',
    registers: [metrics],
    collect() {
      this.set(projector.lag() / 1000);
    },
  });
  const retention = new RetentionService(
    retentionOptions(config),
    new RetentionRepository(db),
    new FileArtifactStore(config.ARTIFACTS_DIR),
    new FileUploadStore(config.UPLOADS_DIR),
    live,
    logger,
    metrics,
  );
  retention.start();

  return {
    checks: [postgresCheck(db), rabbitmqCheck(amqp), redisCheck(redis)],
    start: async () => {
      await projector.start();
      outbox.start();
      sweeper.start();
    },
    shutdown: [
      () => sweeper.stop(),
      () => projector.stop(),
      () => outbox.stop(),
      () => retention.stop(),
    ],
    connections: { amqp, redis, db },
  };
}

bootService({
  service: SERVICE,
  config: TrackerConfigSchema,
  port: (config) => config.TRACKER_PORT,
  connect,
});
