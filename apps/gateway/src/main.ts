import 'reflect-metadata';
import { GatewayConfigSchema, loadConfigOrExit } from '@switchyard/config';
import { BUILT_IN_HANDLERS, HandlerRegistry } from '@switchyard/handlers';
import { AmqpClient } from '@switchyard/messaging';
import {
  createLogger,
  createMetricsRegistry,
  startHttpService,
  runService,
  probeCheck,
  connectionCheck,
} from '@switchyard/observability';
import { createDataSource, JobsRepository, LifecycleRepository } from '@switchyard/persistence';
import { GatewayModule } from './app.module';
import { SERVICE_NAME } from './gateway.tokens';

async function main(): Promise<void> {
  const config = loadConfigOrExit(GatewayConfigSchema, SERVICE_NAME);
  const logger = createLogger(SERVICE_NAME, config.LOG_LEVEL);
  const registry = new HandlerRegistry(BUILT_IN_HANDLERS);
  const db = createDataSource(config.DATABASE_URL, {
    poolSize: config.DB_POOL_SIZE,
    applicationName: SERVICE_NAME,
  });
  const amqp = new AmqpClient({
    url: config.AMQP_URL,
    prefix: config.AMQP_PREFIX,
    connectionName: `${config.AMQP_PREFIX}/${SERVICE_NAME}`,
    logger: logger.child({ component: 'amqp' }),
    workQueues: registry.queues(),
  });
  await db.initialize();
  await amqp.connect();

  await startHttpService({
    service: SERVICE_NAME,
    port: config.GATEWAY_PORT,
    logger,
    bodyLimit: config.BODY_LIMIT_BYTES,
    module: GatewayModule.register({
      config,
      logger,
      jobs: new JobsRepository(db),
      lifecycle: new LifecycleRepository(db, amqp.names, SERVICE_NAME),
      amqp,
      registry,
      metrics: createMetricsRegistry(SERVICE_NAME),
      healthChecks: [
        probeCheck('postgres', () => db.query('SELECT 1')),
        connectionCheck('rabbitmq', () => amqp.isConnected()),
      ],
    }),
    onShutdown: async () => {
      await amqp.close();
      await db.destroy();
    },
  });
}

runService(SERVICE_NAME, main);
