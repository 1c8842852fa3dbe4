import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { amqpNames } from '@switchyard/contracts';
import { readSecret, WorkerConfigSchema, type WorkerConfig } from '@switchyard/config';
import {
  createBuiltInHandlers,
  FileSystemInputFiles,
  loadProvidersFile,
  PooledAudioEngine,
  ProviderRegistry,
} from '@switchyard/handlers';
import { FileArtifactStore } from '@switchyard/storage';
import { CircuitStates, createRedis, publishJobLogs } from '@switchyard/live-state';
import { AmqpClient } from '@switchyard/messaging';
import type { CircuitState } from '@switchyard/resilience';
import {
  bootService,
  createWorkerMetrics,
  postgresCheck,
  rabbitmqCheck,
  type ServiceContext,
  type ServiceParts,
} from '@switchyard/observability';
import { OutboxRelay } from '@switchyard/outbox';
import {
  serviceDataSource,
  FilesRepository,
  FlowsRepository,
  JobLogsRepository,
  JobsRepository,
  UsageRepository,
  JobTypesRepository,
  LifecycleRepository,
} from '@switchyard/persistence';
import { createCpuPool } from './handlers/cpu-pool';
import {
  BUILT_IN_SOURCE,
  buildRegistry,
  loadHandlerModules,
  parseModuleList,
} from './handlers/handler-modules';
import { jobTypeRecords } from './handlers/job-type-records';
import { JobRunner } from './runtime/job-runner';
import { SpawnBuilder } from './runtime/spawn.builder';
import { JobLogWriter } from './runtime/job-logs';
import { UsageLedger } from './runtime/usage-ledger';

const SERVICE = 'worker';
/** A worker's circuit report lapses this long after its last renewal (a dead worker's, too). */
const CIRCUIT_REPORT_TTL_MS = 30000;
/** This process's id when WORKER_ID is unset. */
const GENERATED_WORKER_ID = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;

const workerIdOf = (config: WorkerConfig) => config.WORKER_ID ?? GENERATED_WORKER_ID;

async function connect({
  config,
  logger,
  metrics: metricsRegistry,
}: ServiceContext<WorkerConfig>): Promise<ServiceParts> {
  const workerId = workerIdOf(config);

  // Everything that can refuse the boot (modules, providers) comes before any connection.
  const modules = loadHandlerModules(parseModuleList(config.WORKER_HANDLER_MODULES));
  const providersFile = config.PROVIDERS_FILE ? await loadProvidersFile(config.PROVIDERS_FILE) : undefined;
  // Redis carries only circuit states for the gateway's health; the worker runs jobs without it.
  const redis = createRedis(config.REDIS_URL, {
    connectionName: `${config.REDIS_PREFIX}${SERVICE}/${workerId}`,
    onError: () => undefined,
  });
  const circuitStates = new CircuitStates(redis, {
    prefix: config.REDIS_PREFIX,
    ttlMs: CIRCUIT_REPORT_TTL_MS,
  });
  const reportCircuits = (states: Record<string, CircuitState>) => {
    circuitStates.report(workerId, states).catch((error: unknown) => {
      logger.warn({ err: error }, 'could not publish circuit states to Redis');
    });
  };
  const workerMetrics = createWorkerMetrics(metricsRegistry, {
    providers: Object.keys(providersFile?.providers ?? {}),
  });
  const providers = providersFile
    ? ProviderRegistry.fromDocument(
        providersFile,
        (name) => readSecret(name),
        (provider, state) => {
          workerMetrics.setCircuitState(provider, state);
          // The gateway's /api/v1/health reports every live worker's circuits from these reports.
          reportCircuits({ [provider]: state });
          logger.warn({ provider, state }, `circuit of provider "${provider}" is ${state}`);
        },
      )
    : new ProviderRegistry();

  const db = serviceDataSource(config, SERVICE);
  const files = new FilesRepository(db);
  const cpuPool = createCpuPool(config.WORKER_CPU_THREADS);
  const builtIns = createBuiltInHandlers({
    mediaRoot: config.MEDIA_ROOT,
    // The `files` row says whose upload it is; the bytes are in UPLOADS_DIR.
    inputFiles: new FileSystemInputFiles(
      config.UPLOADS_DIR,
      async (fileId, tenant) => (await files.findById(fileId, tenant)) !== null,
    ),
    audio: new PooledAudioEngine(cpuPool),
    providers,
  });
  const sourced = [...builtIns.map((handler) => ({ handler, source: BUILT_IN_SOURCE })), ...modules];
  // Throws on a duplicate type or an unknown queue, naming the modules; bootService exits 1.
  const registry = buildRegistry(sourced);

  const requested = config.WORKER_QUEUES.split(',')
    .map((q) => q.trim())
    .filter(Boolean);
  const queues = requested.length ? requested : registry.queues();
  const unknown = queues.filter((q) => !registry.queues().includes(q));
  if (unknown.length) throw new Error(`WORKER_QUEUES names queues no handler uses: ${unknown.join(', ')}`);

  const amqp = new AmqpClient({
    url: config.AMQP_URL,
    prefix: config.AMQP_PREFIX,
    connectionName: amqpNames(config.AMQP_PREFIX).connectionName(SERVICE, workerId),
    deadLetterMaxLength: config.DLQ_MAX_LENGTH,
    queueType: config.AMQP_QUEUE_TYPE,
    logger,
    workQueues: registry.queues(),
  });
  await db.initialize();
  // Publish what this worker runs, so the gateway accepts jobs of module-defined types too.
  await new JobTypesRepository(db).upsert(jobTypeRecords(sourced));
  await amqp.connect();
  logger.info(
    {
      types: registry.list().map((h) => h.type),
      modules: [...new Set(modules.map((m) => m.source))],
      providers: providers.names(),
      cpuThreads: config.WORKER_CPU_THREADS,
    },
    'handlers registered',
  );

  // Renew this worker's circuit reports (all providers) well within their lifetime.
  const circuitHeartbeat = providers.names().length
    ? setInterval(() => reportCircuits(providers.states()), CIRCUIT_REPORT_TTL_MS / 3)
    : undefined;
  circuitHeartbeat?.unref();
  if (circuitHeartbeat) reportCircuits(providers.states());

  const jobs = new JobsRepository(db, SERVICE);
  // Events of dependants and spawned jobs are committed to the outbox and published right after;
  // the gateway's and tracker's relays publish whatever this worker could not.
  const outbox = new OutboxRelay(jobs, amqp, logger, { maxDelayMs: 5000 });
  const runner = new JobRunner(
    {
      workerId,
      queues,
      concurrency: config.WORKER_CONCURRENCY,
      leaseMs: config.LEASE_MS,
      shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
      cancelGraceMs: config.CANCEL_GRACE_MS,
      resultInlineMaxBytes: config.RESULT_INLINE_MAX_BYTES,
      trackActive: (type) => workerMetrics.trackActive(type),
    },
    amqp,
    jobs,
    new LifecycleRepository(db, amqp.names, SERVICE),
    registry,
    new FileArtifactStore(config.ARTIFACTS_DIR),
    logger,
    {
      flows: new FlowsRepository(db, SERVICE),
      spawns: new SpawnBuilder(registry, {
        maxChildren: config.FLOW_MAX_SPAWN,
        defaultTimeoutMs: config.DEFAULT_TIMEOUT_MS,
        maxTimeoutMs: config.MAX_TIMEOUT_MS,
      }),
      publish: (records) => outbox.publishCommitted(records),
    },
    {
      // Lines are announced on Redis for the gateways' SSE streams (best effort).
      logs: new JobLogWriter(
        new JobLogsRepository(db),
        (events) => publishJobLogs(redis, config.REDIS_PREFIX, events),
        logger,
        { maxLines: config.JOB_LOG_MAX_LINES, lineMaxChars: config.JOB_LOG_LINE_MAX_CHARS },
      ),
      usage: new UsageLedger(new UsageRepository(db), workerMetrics, logger),
    },
  );

  return {
    checks: [postgresCheck(db), rabbitmqCheck(amqp)],
    // An open circuit is reported but keeps the worker ready: its jobs wait for the provider.
    info: () => circuitsInfo(providers.states()),
    start: () => runner.start(),
    shutdown: [
      () => runner.stop(),
      () => outbox.stop(),
      () => providers.shutdown(),
      () => clearInterval(circuitHeartbeat),
      () => circuitStates.withdraw().catch(() => undefined),
      () => cpuPool.close(),
    ],
    connections: { amqp, redis, db },
  };
}

/** The `circuits` entry of the worker's readiness report: state per provider, and the open ones. */
function circuitsInfo(providers: Record<string, CircuitState>): Record<string, object> {
  const open = Object.keys(providers).filter((name) => providers[name] === 'open');
  return { circuits: { status: 'up', latencyMs: 0, providers, open } };
}

bootService({
  service: SERVICE,
  config: WorkerConfigSchema,
  port: (config) => config.WORKER_PORT,
  logFields: (config) => ({ workerId: workerIdOf(config) }),
  connect,
});
