import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { JobsModule } from '../jobs/jobs.module';
import { IntakeConsumer } from './intake.consumer';
import { IntakeService } from './intake.service';

/** AMQP intake (SPEC §5): the same admission as POST /jobs; main.ts starts it after listen. */
@Module({
  imports: [AuthModule, JobsModule],
  providers: [IntakeService, IntakeConsumer],
})
export class IntakeModule {}
