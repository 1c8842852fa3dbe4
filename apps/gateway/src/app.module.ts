import { Module, type DynamicModule } from '@nestjs/common';
import { HealthModule } from '@switchyard/observability';
import { AdminModule } from './admin/admin.module';
import { AuthModule } from './auth/auth.module';
import { CoreModule, type GatewayDependencies } from './core.module';
import { EventsModule } from './events/events.module';
import { FilesModule } from './files/files.module';
import { ApiHealthModule } from './health/api-health.module';
import { IntakeModule } from './intake/intake.module';
import { JobTypesModule } from './job-types/job-types.module';
import { JobsModule } from './jobs/jobs.module';
import { LifecycleModule } from './lifecycle/lifecycle.module';
import { QueuesModule } from './queues/queues.module';

/** The gateway: the core values from main.ts and one module per feature. */
@Module({})
export class GatewayModule {
  static register(deps: GatewayDependencies): DynamicModule {
    return {
      module: GatewayModule,
      imports: [
        CoreModule.forRoot(deps),
        HealthModule.register({ checks: deps.healthChecks, registry: deps.metrics }),
        AuthModule,
        QueuesModule,
        JobTypesModule,
        JobsModule,
        LifecycleModule,
        EventsModule,
        FilesModule,
        AdminModule,
        ApiHealthModule,
        // Last: Nest runs onModuleDestroy from the root outwards, later imports of a level first, so
        // the intake consumer stops before anything else is torn down.
        IntakeModule,
      ],
    };
  }
}
