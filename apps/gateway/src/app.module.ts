import { Module, type DynamicModule } from '@nestjs/common';
import { HealthModule } from '@switchyard/observability';
import { AdminModule } from './admin/admin.module';
import { AuthModule } from './auth/auth.module';
import { BrowserModule } from './browser/browser.module';
import { CoreModule, type GatewayDependencies } from './core.module';
import { DispatchModule } from './dispatch/dispatch.module';
import { EventsModule } from './events/events.module';
import { FilesModule } from './files/files.module';
import { FlowsModule } from './flows/flows.module';
import { ApiHealthModule } from './health/api-health.module';
import { IntakeModule } from './intake/intake.module';
import { JobTypesModule } from './job-types/job-types.module';
import { JobsModule } from './jobs/jobs.module';
import { LifecycleModule } from './lifecycle/lifecycle.module';
import { LimitsModule } from './limits/limits.module';
import { LogsModule } from './logs/logs.module';
import { QueuesModule } from './queues/queues.module';
import { SchedulesModule } from './schedules/schedules.module';
import { WebhooksModule } from './webhooks/webhooks.module';
import { UsageModule } from './usage/usage.module';

/** The gateway: the core values from main.ts and one module per feature. */
@Module({})
export class GatewayModule {
  static register(deps: GatewayDependencies): DynamicModule {
    // Start-up hooks run in this order, a module's imports first (QueuesModule, met through
    // JobsModule, before it), shutdown hooks in the reverse one: the outbox drains before the queue
    // monitor stops. The API document lists routes in this order too.
    return {
      module: GatewayModule,
      imports: [
        CoreModule.forRoot(deps),
        // Before the features that kick it; stopped after them.
        DispatchModule,
        JobsModule,
        QueuesModule,
        JobTypesModule,
        LifecycleModule,
        SchedulesModule,
        AuthModule,
        EventsModule,
        FilesModule,
        FlowsModule,
        AdminModule,
        WebhooksModule,
        BrowserModule,
        // Job logs, the usage ledger and tenant budgets (issue 21).
        LogsModule,
        UsageModule,
        LimitsModule,
        ApiHealthModule,
        HealthModule.register({ checks: deps.healthChecks, registry: deps.metrics }),
        // Last, so the intake consumer stops before anything else is torn down.
        IntakeModule,
      ],
    };
  }
}
