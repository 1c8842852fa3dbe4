import { Module } from '@nestjs/common';
import { QueuesModule } from '../queues/queues.module';
import { ApiHealthController } from './api-health.controller';
import { ApiHealthService } from './api-health.service';

/** The detailed /api/v1/health report (the probes on /health/* come from observability). */
@Module({
  imports: [QueuesModule],
  controllers: [ApiHealthController],
  providers: [ApiHealthService],
})
export class ApiHealthModule {}
