import { Module, type DynamicModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { Redis } from 'ioredis';
import type { ArtifactStore, HandlerRegistry, AnyJobTypeDefinition, UploadStore } from '@switchyard/handlers';
import {
  AdmissionStore,
  ChannelSubscriber,
  LiveProgressStore,
  StreamSlots,
  TokenBucketLimiter,
} from '@switchyard/live-state';
import { AmqpClient } from '@switchyard/messaging';
import { createGatewayMetrics, HealthModule, type HealthCheck, type Logger } from '@switchyard/observability';
import {
  ApiKeysRepository,
  FilesRepository,
  JobQueriesRepository,
  RetentionRepository,
  JobsRepository,
  LifecycleRepository,
  ResultCacheRepository,
  JobTypesRepository,
} from '@switchyard/persistence';
import type { Registry } from 'prom-client';
import { AdminController } from './admin/admin.controller';
import { AdminService } from './admin/admin.service';
import { hashApiKey } from './auth/api-key';
import { ApiKeysService } from './auth/api-keys.service';
import { AuthGuard } from './auth/auth.guard';
import { EventsController } from './events/events.controller';
import { EventsService } from './events/events.service';
import { SSE_SLOT_TTL_MS, SseHub } from './events/sse.hub';
import { FilesController } from './files/files.controller';
import { FilesService } from './files/files.service';
import { IntakeConsumer } from './intake/intake.consumer';
import { IntakeService } from './intake/intake.service';
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
import { ApiHealthController } from './health/api-health.controller';
import { ApiHealthService, DATABASE_PROBE, type DatabaseProbe } from './health/api-health.service';
import { JobTypesController } from './job-types/job-types.controller';
import { ActiveJobsCounter } from './jobs/active-jobs.counter';
import { JobsController } from './jobs/jobs.controller';
import { JobsService } from './jobs/jobs.service';
import { SubmissionService } from './jobs/submission.service';
import { DuplicateSubmissions } from './jobs/duplicate-submissions';
import { SubmissionLimits } from './jobs/submission.limits';
import { SubmissionValidator } from './jobs/submission.validator';
import { LifecycleController } from './lifecycle/lifecycle.controller';
import { LifecycleService } from './lifecycle/lifecycle.service';
import { ReplayAdmission } from './lifecycle/replay.admission';
import { OutboxPublisher } from './outbox/outbox.publisher';
import { QueueMonitor } from './queues/queue.monitor';
import { QueuesController } from './queues/queues.controller';
import { RateLimitService } from './rate-limit/rate-limit.service';
import { ResultsController } from './results/results.controller';
import { StatsController } from './stats/stats.controller';
import { StatsService } from './stats/stats.service';
import { JobTypeCatalog } from './job-types/job-type.catalog';

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
  resultCache: ResultCacheRepository;
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

@Module({})
export class GatewayModule {
  static register(deps: GatewayDependencies): DynamicModule {
    const { config } = deps;
    return {
      module: GatewayModule,
      imports: [HealthModule.register({ checks: deps.healthChecks, registry: deps.metrics })],
      controllers: [
        JobsController,
        LifecycleController,
        EventsController,
        ResultsController,
        FilesController,
        JobTypesController,
        QueuesController,
        StatsController,
        ApiHealthController,
        AdminController,
      ],
      providers: [
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
        { provide: ResultCacheRepository, useValue: deps.resultCache },
        { provide: AmqpClient, useValue: deps.amqp },
        { provide: ChannelSubscriber, useValue: deps.subscriber },
        { provide: TokenBucketLimiter, useValue: new TokenBucketLimiter(deps.redis) },
        {
          provide: AdmissionStore,
          useValue: new AdmissionStore(deps.redis, {
            prefix: config.REDIS_PREFIX,
            idempotencyTtlSeconds: config.IDEMPOTENCY_TTL_S,
            dedupWindowMs: config.DEDUP_WINDOW_MS,
          }),
        },
        {
          provide: LiveProgressStore,
          useValue: new LiveProgressStore(deps.redis, {
            prefix: config.REDIS_PREFIX,
            ttlSeconds: LIVE_TTL_S,
          }),
        },
        {
          provide: StreamSlots,
          useValue: new StreamSlots(deps.redis, { prefix: config.REDIS_PREFIX, ttlMs: SSE_SLOT_TTL_MS }),
        },
        {
          provide: SubmissionValidator,
          useValue: new SubmissionValidator(deps.registry, {
            defaultTimeoutMs: config.DEFAULT_TIMEOUT_MS,
            maxTimeoutMs: config.MAX_TIMEOUT_MS,
          }),
        },
        { provide: APP_GUARD, useClass: AuthGuard },
        ApiKeysService,
        RateLimitService,
        OutboxPublisher,
        QueueMonitor,
        JobsService,
        ActiveJobsCounter,
        JobTypeCatalog,
        DuplicateSubmissions,
        SubmissionLimits,
        SubmissionService,
        LifecycleService,
        ReplayAdmission,
        SseHub,
        EventsService,
        FilesService,
        StatsService,
        ApiHealthService,
        AdminService,
        // AMQP intake (SPEC §5): the same admission as POST /jobs; main.ts starts it after listen.
        IntakeService,
        IntakeConsumer,
      ],
    };
  }
}
