import { Module } from '@nestjs/common';
import { JobsModule } from '../jobs/jobs.module';
import { LogsController } from './logs.controller';
import { LogsService } from './logs.service';

/** Job log lines (`ctx.log`): `GET /jobs/{id}/logs`; live lines ride the job's SSE stream. */
@Module({
  imports: [JobsModule],
  controllers: [LogsController],
  providers: [LogsService],
})
export class LogsModule {}
