import { Module } from '@nestjs/common';
import { DispatchModule } from '../dispatch/dispatch.module';
import { EventsModule } from '../events/events.module';
import { JobTypesModule } from '../job-types/job-types.module';
import { JobsModule } from '../jobs/jobs.module';
import { FlowsController } from './flows.controller';
import { FlowsService } from './flows.service';

/** Flows: jobs that depend on jobs (SPEC §11). */
@Module({
  imports: [JobsModule, JobTypesModule, DispatchModule, EventsModule],
  controllers: [FlowsController],
  providers: [FlowsService],
})
export class FlowsModule {}
