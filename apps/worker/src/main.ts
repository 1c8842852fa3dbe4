import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { loadConfigOrExit, WorkerConfigSchema } from '@switchyard/config';
import { BUILT_IN_HANDLERS, FileArtifactStore, HandlerRegistry } from '@switchyard/handlers';
import { AmqpClient } from '@switchyard/messaging';
import {
  HealthModule,
  createLogger,
  createMetricsRegistry,
  startHttpService,
  runService,
  probeCheck,
  connectionCheck,
} from '@switchyard/observability';
import { createDataSource, JobsRepository, LifecycleRepository } from '@switchyard/persistence';
import { JobRunner } from './runtime/job-runner';

const SERVICE = 'worker';

async function main(): Promise<void> {
  const config = loadConfigOrExit(WorkerConfigSchema, SERVICE);
  const workerId = config.WORKER_ID ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const logger = createLogger(SERVICE, config.LOG_LEVEL).child({ workerId });
  const registry = new HandlerRegistry(BUILT_IN_HANDLERS);
  const requested = config.WORKER_QUEUES.split(',')
    .map((q) => q.trim())
    .filter(Boolean);
  const queues = requested.length ? requested : registry.queues();
  const unknown = queues.filter((q) => !registry.queues().includes(q));
  if (unknown.length) throw new Error(`WORKER_QUEUES names queues no handler uses: ${unknown.join(', ')}`);

  const db = createDataSource(config.DATABASE_URL, {
    poolSize: config.DB_POOL_SIZE,
    applicationName: SERVICE,
  });
  const amqp = new AmqpClient({
    url: config.AMQP_URL,
    prefix: config.AMQP_PREFIX,
    connectionName: `${config.AMQP_PREFIX}/${SERVICE}/${workerId}`,
    logger: logger.child({ component: 'amqp' }),
    workQueues: registry.queues(),
  });
  await db.initialize();
  await amqp.connect();
  logger.info({ types: registry.list().map((h) => h.type) }, 'handlers registered');

  const runner = new JobRunner(
    {
      workerId,
      queues,
      concurrency: config.WORKER_CONCURRENCY,
      leaseMs: config.LEASE_MS,
      shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
      cancelGraceMs: config.CANCEL_GRACE_MS,
    },
    amqp,
    new JobsRepository(db),
    new LifecycleRepository(db, amqp.names, SERVICE),
    registry,
    new FileArtifactStore(config.ARTIFACTS_DIR),
    logger,
  );

  await startHttpService({
    service: SERVICE,
    port: config.WORKER_PORT,
    logger,
    module: HealthModule.register({
      registry: createMetricsRegistry(SERVICE),
      checks: [
        probeCheck('postgres', () => db.query('SELECT 1')),
        connectionCheck('rabbitmq', () => amqp.isConnected()),
      ],
    }),
    onShutdown: async () => {
      await runner.stop();
      await amqp.close();
      await db.destroy();
    },
  });
  await runner.start();
}

runService(SERVICE, main);
