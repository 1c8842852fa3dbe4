import { Controller, Get } from '@nestjs/common';
import { ApiJson, ApiRoute } from '../docs/api-docs';
import { QueueMonitor } from './queue.monitor';

@Controller('api/v1/queues')
export class QueuesController {
  constructor(private readonly monitor: QueueMonitor) {}

  @Get()
  @ApiRoute(
    'queues',
    'Queue depths, consumers and rates',
    'Per work queue: ready jobs, running jobs, consumers, the oldest queued job’s age, completions per ' +
      'minute (last 5 minutes), the estimated wait for a new job, and the level (`warning` from ' +
      'QUEUE_WARN_DEPTH, `critical` at QUEUE_MAX_DEPTH, where submissions get 503 `queue_full`). ' +
      'Refreshed every second or two.',
  )
  @ApiJson(200, 'every work queue', 'QueueList')
  list() {
    return { items: this.monitor.views() };
  }
}
