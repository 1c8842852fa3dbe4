import { Module, type DynamicModule } from '@nestjs/common';
import type { HandlerRegistry, AnyJobTypeDefinition } from '@switchyard/handlers';
import { AmqpClient } from '@switchyard/messaging';
import { HealthModule, type HealthCheck, type Logger } from '@switchyard/observability';
import { JobsRepository, LifecycleRepository } from '@switchyard/persistence';
import type { Registry } from 'prom-client';
import { GATEWAY_CONFIG, LOGGER, type GatewayConfig } from './gateway.tokens';
import { JobsController } from './jobs/jobs.controller';
import { JobsService } from './jobs/jobs.service';
import { SubmissionValidator } from './jobs/submission.validator';
import { OutboxPublisher } from './outbox/outbox.publisher';
import { LifecycleController } from './lifecycle/lifecycle.controller';
import { LifecycleService } from './lifecycle/lifecycle.service';

/** Everything the gateway talks to, created (and closed) by main.ts. */
export interface GatewayDependencies {
  config: GatewayConfig;
  logger: Logger;
  jobs: JobsRepository;
  lifecycle: LifecycleRepository;
  amqp: AmqpClient;
  registry: HandlerRegistry<AnyJobTypeDefinition>;
  metrics: Registry;
  healthChecks: HealthCheck[];
}

@Module({})
export class GatewayModule {
  static register(deps: GatewayDependencies): DynamicModule {
    return {
      module: GatewayModule,
      imports: [HealthModule.register({ checks: deps.healthChecks, registry: deps.metrics })],
      controllers: [JobsController, LifecycleController],
      providers: [
        { provide: GATEWAY_CONFIG, useValue: deps.config },
        { provide: LOGGER, useValue: deps.logger },
        { provide: JobsRepository, useValue: deps.jobs },
        { provide: LifecycleRepository, useValue: deps.lifecycle },
        { provide: AmqpClient, useValue: deps.amqp },
        {
          provide: SubmissionValidator,
          useValue: new SubmissionValidator(deps.registry, {
            defaultTimeoutMs: deps.config.DEFAULT_TIMEOUT_MS,
            maxTimeoutMs: deps.config.MAX_TIMEOUT_MS,
          }),
        },
        OutboxPublisher,
        JobsService,
        LifecycleService,
      ],
    };
  }
}
