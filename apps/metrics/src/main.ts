import 'reflect-metadata';
import { loadConfigOrExit, MetricsConfigSchema } from '@switchyard/config';
import { AmqpClient } from '@switchyard/messaging';
import {
  connectionCheck,
  createLogger,
  createMetricsRegistry,
  HealthModule,
  runService,
  startHttpService,
} from '@switchyard/observability';

const SERVICE = 'metrics';

async function main(): Promise<void> {
  const config = loadConfigOrExit(MetricsConfigSchema, SERVICE);
  const logger = createLogger(SERVICE, config.LOG_LEVEL);
  const amqp = new AmqpClient({
    url: config.AMQP_URL,
    prefix: config.AMQP_PREFIX,
    connectionName: SERVICE,
    logger: logger.child({ component: 'amqp' }),
  });
  await amqp.connect();
  await startHttpService({
    service: SERVICE,
    port: config.METRICS_PORT,
    logger,
    module: HealthModule.register({
      registry: createMetricsRegistry(SERVICE),
      checks: [connectionCheck('rabbitmq', () => amqp.isConnected())],
    }),
    onShutdown: () => amqp.close(),
  });
}

runService(SERVICE, main);
