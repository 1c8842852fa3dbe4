import { Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import { ApiError, type QueueView } from '@switchyard/contracts';
import { QueueSettingsRepository } from '@switchyard/persistence';
import { RequireScope } from '../auth/caller';
import { ApiErrors, ApiJson, ApiRoute } from '../docs/api-docs';
import { QueueMonitor } from './queue.monitor';

const ApiQueueName = () =>
  ApiParam({ name: 'name', description: 'work queue (as in `GET /queues`)', schema: { type: 'string' } });

@Controller('api/v1/queues')
export class QueuesController {
  constructor(
    private readonly monitor: QueueMonitor,
    private readonly settings: QueueSettingsRepository,
  ) {}

  @Get()
  @ApiRoute(
    'queues',
    'Queue depths, consumers and rates',
    'Per work queue: the backlog PostgreSQL holds (`backlog`), the jobs released to RabbitMQ and ' +
      'not started (`released`; `ready` is the broker’s own count), scheduled and running jobs, ' +
      'consumers, whether the queue is paused, the oldest queued job’s age, completions per minute ' +
      '(last 5 minutes), the estimated wait for a new job (null while paused), and the level of ' +
      '`backlog + released` (`warning` from QUEUE_WARN_DEPTH, `critical` at QUEUE_MAX_DEPTH, where ' +
      'submissions get 503 `queue_full`). Refreshed every second or two.',
  )
  @ApiJson(200, 'every work queue', 'QueueList')
  list() {
    return { items: this.monitor.views() };
  }

  @Post(':name/pause')
  @HttpCode(200)
  @RequireScope('admin')
  @ApiRoute(
    'queues',
    'Pause a queue',
    'The queue keeps accepting jobs but releases none to the workers; running jobs finish. ' +
      'Idempotent; the state is kept in PostgreSQL, so it survives restarts and holds on every gateway.',
  )
  @ApiQueueName()
  @ApiJson(200, 'the queue, paused', 'Queue')
  @ApiErrors(404)
  pause(@Param('name') name: string): Promise<QueueView> {
    return this.setPaused(name, true);
  }

  @Post(':name/resume')
  @HttpCode(200)
  @RequireScope('admin')
  @ApiRoute(
    'queues',
    'Resume a paused queue',
    'Its backlog is released to the workers again at once, in priority order. Idempotent.',
  )
  @ApiQueueName()
  @ApiJson(200, 'the queue, no longer paused', 'Queue')
  @ApiErrors(404)
  resume(@Param('name') name: string): Promise<QueueView> {
    return this.setPaused(name, false);
  }

  private async setPaused(name: string, paused: boolean): Promise<QueueView> {
    if (!this.monitor.queues().includes(name)) throw new ApiError('not_found', `queue "${name}" not found`);
    // The write notifies every gateway's dispatcher (a resume also wakes them for this queue).
    await this.settings.setPaused(name, paused);
    this.monitor.notePaused(name, paused);
    return this.monitor.view(name) as QueueView;
  }
}
