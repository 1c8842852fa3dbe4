import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { DispatchModule } from '../dispatch/dispatch.module';
import { JobsModule } from '../jobs/jobs.module';
import { QueuesModule } from '../queues/queues.module';
import { LifecycleController } from './lifecycle.controller';
import { LifecycleService } from './lifecycle.service';
import { ReplayAdmission } from './replay.admission';

/** Cancel, retry, delete, the dead-letter list and replays. */
@Module({
  imports: [AuthModule, QueuesModule, JobsModule, DispatchModule],
  controllers: [LifecycleController],
  providers: [LifecycleService, ReplayAdmission],
  exports: [LifecycleService],
})
export class LifecycleModule {}
