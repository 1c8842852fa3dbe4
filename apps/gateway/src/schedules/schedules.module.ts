import { Injectable, Module, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { SCHEDULE_RUN_OUTCOMES } from '@switchyard/contracts';
import { counter, histogram, METRIC_PREFIX } from '@switchyard/observability';
import { SchedulesRepository } from '@switchyard/persistence';
import type { Registry } from 'prom-client';
import { GATEWAY_CONFIG, LOGGER, METRICS, type GatewayConfig, type Logger } from '../gateway.tokens';
import { JobTypeCatalog } from '../job-types/job-type.catalog';
import { JobTypesModule } from '../job-types/job-types.module';
import { JobsModule } from '../jobs/jobs.module';
import { JobsService } from '../jobs/jobs.service';
import { LifecycleModule } from '../lifecycle/lifecycle.module';
import { WebhookTargets } from '../webhooks/webhook-targets';
import { WebhookTargetsModule } from '../webhooks/webhook-targets.module';
import { ScheduleEvaluator } from './schedule.evaluator';
import { SCHEDULE_COUNTERS, ScheduleRuns, type ScheduleCounters } from './schedule.runs';
import { SCHEDULE_CLOCK, SchedulesService, type ScheduleClock } from './schedules.service';
import { SchedulesController } from './schedules.controller';

/** Starts the evaluator with the app and stops it (timers, LISTEN) before the connections close. */
@Injectable()
class EvaluatorLifecycle implements OnModuleInit, OnApplicationShutdown {
  constructor(private readonly evaluator: ScheduleEvaluator) {}

  onModuleInit(): Promise<void> {
    return this.evaluator.start();
  }

  onApplicationShutdown(): Promise<void> {
    return this.evaluator.stop();
  }
}

/** Schedules: the /schedules resource and the evaluator that runs their ticks. */
@Module({
  imports: [JobsModule, JobTypesModule, LifecycleModule, WebhookTargetsModule],
  controllers: [SchedulesController],
  providers: [
    { provide: SCHEDULE_CLOCK, useValue: (() => Date.now()) satisfies ScheduleClock },
    {
      provide: SCHEDULE_COUNTERS,
      useFactory: (metrics: Registry): ScheduleCounters => {
        const runs = counter(
          metrics,
          `${METRIC_PREFIX}schedule_runs_total`,
          'Schedule ticks by outcome: a run created, skipped by the overlap policy, or missed (older than the catch-up window, or refused)',
          ['outcome'],
        );
        for (const outcome of SCHEDULE_RUN_OUTCOMES) runs.inc({ outcome }, 0);
        const lag = histogram(
          metrics,
          `${METRIC_PREFIX}schedule_lag_seconds`,
          'From a schedule tick to its run being created',
          [],
          [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
        );
        return {
          runs: (outcome, count) => runs.inc({ outcome }, count),
          lag: (seconds) => lag.observe(seconds),
        };
      },
      inject: [METRICS],
    },
    ScheduleRuns,
    {
      provide: SchedulesService,
      useFactory: (
        repository: SchedulesRepository,
        runs: ScheduleRuns,
        catalog: JobTypeCatalog,
        jobs: JobsService,
        webhookTargets: WebhookTargets,
        clock: ScheduleClock,
        config: GatewayConfig,
      ) =>
        new SchedulesService(
          repository,
          runs,
          catalog,
          jobs,
          webhookTargets,
          clock,
          config.TENANT_MAX_SCHEDULES,
        ),
      inject: [
        SchedulesRepository,
        ScheduleRuns,
        JobTypeCatalog,
        JobsService,
        WebhookTargets,
        SCHEDULE_CLOCK,
        GATEWAY_CONFIG,
      ],
    },
    {
      provide: ScheduleEvaluator,
      useFactory: (
        repository: SchedulesRepository,
        runs: ScheduleRuns,
        counters: ScheduleCounters,
        clock: ScheduleClock,
        logger: Logger,
      ) => new ScheduleEvaluator(repository, runs, counters, clock, logger.child({ component: 'schedules' })),
      inject: [SchedulesRepository, ScheduleRuns, SCHEDULE_COUNTERS, SCHEDULE_CLOCK, LOGGER],
    },
    EvaluatorLifecycle,
  ],
})
export class SchedulesModule {}
