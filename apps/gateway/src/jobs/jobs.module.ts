import { Module } from '@nestjs/common';
import type { AnyJobTypeDefinition, HandlerRegistry } from '@switchyard/handler-sdk';
import { DispatchModule } from '../dispatch/dispatch.module';
import { GATEWAY_CONFIG, HANDLER_REGISTRY, type GatewayConfig } from '../gateway.tokens';
import { JobTypesModule } from '../job-types/job-types.module';
import { QueuesModule } from '../queues/queues.module';
import { UsageModule } from '../usage/usage.module';
import { WebhookTargetsModule } from '../webhooks/webhook-targets.module';
import { ActiveJobsCounter, ScheduledJobsCounter } from './active-jobs.counter';
import { JobsController } from './jobs.controller';
import { JobsService } from './jobs.service';
import { OutboxPublisher } from './outbox.publisher';
import { ResultsController } from './results.controller';
import { DuplicateSubmissions } from './duplicate-submissions';
import { SubmissionLimits } from './submission.limits';
import { SubmissionService } from './submission.service';
import { SubmissionValidator } from './submission.validator';

/** Submitting, reading and listing jobs, their results, and the outbox of their events. */
@Module({
  imports: [QueuesModule, JobTypesModule, DispatchModule, UsageModule, WebhookTargetsModule],
  controllers: [JobsController, ResultsController],
  providers: [
    {
      provide: SubmissionValidator,
      useFactory: (registry: HandlerRegistry<AnyJobTypeDefinition>, config: GatewayConfig) =>
        new SubmissionValidator(registry, {
          defaultTimeoutMs: config.DEFAULT_TIMEOUT_MS,
          maxTimeoutMs: config.MAX_TIMEOUT_MS,
        }),
      inject: [HANDLER_REGISTRY, GATEWAY_CONFIG],
    },
    ActiveJobsCounter,
    ScheduledJobsCounter,
    OutboxPublisher,
    JobsService,
    DuplicateSubmissions,
    SubmissionLimits,
    SubmissionService,
  ],
  exports: [
    ActiveJobsCounter,
    OutboxPublisher,
    JobsService,
    SubmissionService,
    SubmissionValidator,
    SubmissionLimits,
  ],
})
export class JobsModule {}
