import 'reflect-metadata';
import { resolve } from 'node:path';
import { amqpNames, BUILT_IN_QUEUES } from '@switchyard/contracts';
import {
  applyServiceV8Flags,
  GatewayConfigSchema,
  loadConfigOrExit,
  resolveAdminApiKey,
} from '@switchyard/config';
import { HandlerRegistry } from '@switchyard/handler-sdk';
import { BUILT_IN_JOB_TYPES } from '@switchyard/handlers';
import { FileArtifactStore, FileUploadStore } from '@switchyard/storage';
import { ChannelSubscriber, createRedis } from '@switchyard/live-state';
import { AmqpClient } from '@switchyard/messaging';
import {
  createLogger,
  createMetricsRegistry,
  startHttpService,
  runService,
  probeCheck,
  connectionCheck,
  startTracing,
  stopTracing,
} from '@switchyard/observability';
import {
  ApiKeysRepository,
  createDataSource,
  DispatchRepository,
  MaintenanceRepository,
  SchedulesRepository,
  FilesRepository,
  FlowsRepository,
  JobQueriesRepository,
  RetentionRepository,
  JobsRepository,
  LifecycleRepository,
  ResultCacheRepository,
  QueueSettingsRepository,
  JobTypesRepository,
  WebhooksRepository,
  JobLogsRepository,
  UsageRepository,
  TenantBudgetsRepository,
  LimitsRepository,
} from '@switchyard/persistence';
import { GatewayModule } from './app.module';
import { SERVICE_NAME } from './gateway.tokens';
import { configureHttp } from './http/http.setup';
import { gatewayListenHost } from './http/listen-host';
import { IntakeConsumer } from './intake/intake.consumer';

const VERSION = '0.1.0';

async function main(): Promise<void> {
  // Before the services start allocating (libs/config's SERVICE_V8_FLAGS: fewer full collections).
  applyServiceV8Flags('gateway');
  const config = loadConfigOrExit(GatewayConfigSchema, SERVICE_NAME);
  // Before any connection is made, so that the instrumentations see them (off when unset).
  startTracing(SERVICE_NAME, config);
  // Production refuses to start without ADMIN_API_KEY (or with the published dev key).
  const adminApiKey = resolveAdminApiKey(config);
  const logger = createLogger(SERVICE_NAME, config.LOG_LEVEL);
  if (config.ADMIN_API_KEY === undefined) {
    logger.warn('ADMIN_API_KEY is unset: the documented dev admin key is active (refused in production)');
  }
  const registry = new HandlerRegistry(BUILT_IN_JOB_TYPES, BUILT_IN_QUEUES);
  const db = createDataSource(config.DATABASE_URL, {
    poolSize: config.DB_POOL_SIZE,
    applicationName: SERVICE_NAME,
  });
  const amqp = new AmqpClient({
    url: config.AMQP_URL,
    prefix: config.AMQP_PREFIX,
    connectionName: amqpNames(config.AMQP_PREFIX).connectionName(SERVICE_NAME),
    deadLetterMaxLength: config.DLQ_MAX_LENGTH,
    queueType: config.AMQP_QUEUE_TYPE,
    logger,
    workQueues: registry.queues(),
  });
  // Two Redis connections per process whatever the load: commands, and one pub/sub subscriber.
  let lastRedisError = 0;
  const onRedisError = (error: Error) => {
    if (Date.now() - lastRedisError < 10000) return;
    lastRedisError = Date.now();
    logger.warn({ err: error }, 'redis error');
  };
  const redis = createRedis(config.REDIS_URL, {
    connectionName: `${config.REDIS_PREFIX}${SERVICE_NAME}`,
    onError: onRedisError,
  });
  const subscriber = createRedis(config.REDIS_URL, {
    connectionName: `${config.REDIS_PREFIX}${SERVICE_NAME}:events`,
    onError: onRedisError,
  });
  await db.initialize();
  await amqp.connect();

  const gateway = await startHttpService({
    service: SERVICE_NAME,
    port: config.GATEWAY_PORT,
    host: gatewayListenHost(config),
    logger,
    bodyLimit: config.BODY_LIMIT_BYTES,
    module: GatewayModule.register({
      config,
      logger,
      jobs: new JobsRepository(db),
      lifecycle: new LifecycleRepository(db, amqp.names, SERVICE_NAME),
      queries: new JobQueriesRepository(db),
      retention: new RetentionRepository(db),
      jobTypes: new JobTypesRepository(db),
      apiKeys: new ApiKeysRepository(db),
      files: new FilesRepository(db),
      flows: new FlowsRepository(db, SERVICE_NAME),
      resultCache: new ResultCacheRepository(db),
      queueSettings: new QueueSettingsRepository(db),
      dispatch: new DispatchRepository(db, SERVICE_NAME),
      schedules: new SchedulesRepository(db),
      webhooks: new WebhooksRepository(db),
      jobLogs: new JobLogsRepository(db),
      usage: new UsageRepository(db),
      budgets: new TenantBudgetsRepository(db),
      limits: new LimitsRepository(db),
      maintenance: new MaintenanceRepository(db),
      amqp,
      redis,
      subscriber: new ChannelSubscriber(subscriber),
      artifacts: new FileArtifactStore(config.ARTIFACTS_DIR),
      uploads: new FileUploadStore(config.UPLOADS_DIR),
      registry,
      adminApiKey,
      databaseProbe: () => db.query('SELECT 1'),
      metrics: createMetricsRegistry(SERVICE_NAME),
      healthChecks: [
        probeCheck('postgres', () => db.query('SELECT 1')),
        connectionCheck('rabbitmq', () => amqp.isConnected()),
      ],
    }),
    configure: (fastify, app) =>
      configureHttp(fastify, app, {
        uploadMaxBytes: config.UPLOAD_MAX_BYTES,
        batchMaxItems: config.BATCH_MAX_ITEMS,
        flowMaxJobs: config.FLOW_MAX_JOBS,
        version: VERSION,
        corsOrigins: config.CORS_ORIGINS,
        // tools/build.mjs builds apps/console next to this app in dist/.
        consoleDir: resolve(__dirname, '../../console'),
      }),
    // The gateway holds no work of its own: its shutdown (HTTP, intake, outbox, dispatcher,
    // connections) is bounded by this deadline.
    shutdownDeadlineMs: 20000,
    onShutdown: async () => {
      await amqp.close();
      subscriber.disconnect();
      await redis.quit().catch(() => redis.disconnect());
      await db.destroy();
      await stopTracing();
    },
  });
  // Intake starts only once the HTTP server serves (health, REST); shutdown stops it first.
  await gateway.get(IntakeConsumer).start();
}

runService(SERVICE_NAME, main);
