import { Module } from '@nestjs/common';
import { QueueMonitor } from './queue.monitor';
import { QueuesController } from './queues.controller';
import { StatsController } from './stats.controller';
import { StatsService } from './stats.service';

/** What the queues hold (depths, rates, levels) and the job statistics. */
@Module({
  controllers: [QueuesController, StatsController],
  providers: [QueueMonitor, StatsService],
  exports: [QueueMonitor],
})
export class QueuesModule {}
