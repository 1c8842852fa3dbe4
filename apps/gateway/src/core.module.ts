import { Module, type DynamicModule } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { HandlerRegistry, AnyJobTypeDefinition } from '@switchyard/handler-sdk';
import type { ArtifactStore, UploadStore } from '@switchyard/storage';
import { AdmissionStore, ChannelSubscriber, LiveProgressStore, QueueRates } from '@switchyard/live-state';
import { AmqpClient } from '@switchyard/messaging';
import { createGatewayMetrics, type HealthCheck, type Logger } from '@switchyard/observability';
import {
  ApiKeysRepository,
  DispatchRepository,
  MaintenanceRepository,
  FilesRepository,
  FlowsRepository,
  JobQueriesRepository,
  RetentionRepository,
  JobsRepository,
  LifecycleRepository,
  ResultCacheRepository,
  JobTypesRepository,
  QueueSettingsRepository,
  SchedulesRepository,
  WebhooksRepository,
  JobLogsRepository,
  UsageRepository,
  TenantBudgetsRepository,
  LimitsRepository,
} from '@switchyard/persistence';
import type { Registry } from 'prom-client';
import { hashApiKey } from './auth/api-key';
import {
  ADMIN_KEY_HASH,
  ARTIFACT_STORE,
  GATEWAY_CONFIG,
  GATEWAY_METRICS,
  HANDLER_REGISTRY,
  LOGGER,
  METRICS,
  REDIS,
  UPLOAD_STORE,
  type GatewayConfig,
} from './gateway.tokens';
import { DATABASE_PROBE, type DatabaseProbe } from './health/api-health.service';

/** Everything the gateway talks to, created (and closed) by main.ts. */
export interface GatewayDependencies {
  config: GatewayConfig;
  logger: Logger;
  jobs: JobsRepository;
  lifecycle: LifecycleRepository;
  queries: JobQueriesRepository;
  /** The purge of old terminal jobs, shared with the tracker's retention. */
  retention: RetentionRepository;
  jobTypes: JobTypesRepository;
  apiKeys: ApiKeysRepository;
  files: FilesRepository;
  /** Flows: creation, views, cancel, retry. */
  flows: FlowsRepository;
  resultCache: ResultCacheRepository;
  queueSettings: QueueSettingsRepository;
  /** The dispatcher's statements and its LISTEN connection. */
  dispatch: DispatchRepository;
  /** Schedules, their runs and the evaluator's claims and LISTEN connection. */
  schedules: SchedulesRepository;
  /** Webhook endpoints and deliveries. */
  webhooks: WebhooksRepository;
  /** Job logs, the usage ledger and tenant budgets (issue 21). */
  jobLogs: JobLogsRepository;
  usage: UsageRepository;
  budgets: TenantBudgetsRepository;
  /** Flow-control limits (per-key concurrency). */
  limits: LimitsRepository;
  /** VACUUM and ANALYZE of the hot tables (the table maintenance). */
  maintenance: MaintenanceRepository;
  amqp: AmqpClient;
  /** Command connection (rate limits, admission, live state). */
  redis: Redis;
  /** The one pub/sub connection (SSE fan-out, key revocations). */
  subscriber: ChannelSubscriber;
  artifacts: ArtifactStore;
  uploads: UploadStore;
  registry: HandlerRegistry<AnyJobTypeDefinition>;
  /** The bootstrap admin key (ADMIN_API_KEY, or the dev key outside production). */
  adminApiKey: string;
  databaseProbe: DatabaseProbe;
  metrics: Registry;
  healthChecks: HealthCheck[];
}

/** Keys in the live-state hash expire after this without events; the tracker owns writes. */
const LIVE_TTL_S = 604800;

/**
 * The connections, repositories and stores main.ts created, offered to every feature module.
 * Global so that each feature imports only the features it uses; it holds values, no hooks:
 * main.ts closes the connections after Nest's shutdown.
 */
@Module({})
export class CoreModule {
  static forRoot(deps: GatewayDependencies): DynamicModule {
    const { config } = deps;
    const providers = [
      { provide: GATEWAY_CONFIG, useValue: config },
      { provide: LOGGER, useValue: deps.logger },
      { provide: METRICS, useValue: deps.metrics },
      { provide: GATEWAY_METRICS, useValue: createGatewayMetrics(deps.metrics) },
      { provide: REDIS, useValue: deps.redis },
      { provide: ADMIN_KEY_HASH, useValue: hashApiKey(deps.adminApiKey) },
      { provide: ARTIFACT_STORE, useValue: deps.artifacts },
      { provide: UPLOAD_STORE, useValue: deps.uploads },
      { provide: HANDLER_REGISTRY, useValue: deps.registry },
      { provide: DATABASE_PROBE, useValue: deps.databaseProbe },
      { provide: JobsRepository, useValue: deps.jobs },
      { provide: LifecycleRepository, useValue: deps.lifecycle },
      { provide: JobQueriesRepository, useValue: deps.queries },
      { provide: RetentionRepository, useValue: deps.retention },
      { provide: JobTypesRepository, useValue: deps.jobTypes },
      { provide: ApiKeysRepository, useValue: deps.apiKeys },
      { provide: FilesRepository, useValue: deps.files },
      { provide: FlowsRepository, useValue: deps.flows },
      { provide: ResultCacheRepository, useValue: deps.resultCache },
      { provide: QueueSettingsRepository, useValue: deps.queueSettings },
      { provide: DispatchRepository, useValue: deps.dispatch },
      { provide: SchedulesRepository, useValue: deps.schedules },
      { provide: WebhooksRepository, useValue: deps.webhooks },
      { provide: JobLogsRepository, useValue: deps.jobLogs },
      { provide: UsageRepository, useValue: deps.usage },
      { provide: TenantBudgetsRepository, useValue: deps.budgets },
      { provide: LimitsRepository, useValue: deps.limits },
      { provide: MaintenanceRepository, useValue: deps.maintenance },
      { provide: AmqpClient, useValue: deps.amqp },
      { provide: ChannelSubscriber, useValue: deps.subscriber },
      // Shared by submissions (jobs) and stats (queues).
      {
        provide: AdmissionStore,
        useValue: new AdmissionStore(deps.redis, {
          prefix: config.REDIS_PREFIX,
          idempotencyTtlSeconds: config.IDEMPOTENCY_TTL_S,
          dedupWindowMs: config.DEDUP_WINDOW_MS,
        }),
      },
      // Shared by the SSE streams (events) and the cleanup (admin).
      {
        provide: LiveProgressStore,
        useValue: new LiveProgressStore(deps.redis, { prefix: config.REDIS_PREFIX, ttlSeconds: LIVE_TTL_S }),
      },
      // The start and finish counters the tracker keeps (the queue monitor's rates).
      { provide: QueueRates, useValue: new QueueRates(deps.redis, config.REDIS_PREFIX) },
    ];
    return {
      module: CoreModule,
      global: true,
      providers,
      exports: providers.map((provider) => provider.provide),
    };
  }
}
