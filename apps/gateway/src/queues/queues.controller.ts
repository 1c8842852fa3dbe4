import { Controller, Get, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import { ApiError, type QueueView } from '@switchyard/contracts';
import { LimitsRepository, QueueSettingsRepository } from '@switchyard/persistence';
import { Caller, RequireScope } from '../auth/caller';
import { ApiErrors, ApiJson, ApiRoute } from '../docs/api-docs';
import { LOGGER, type Logger } from '../gateway.tokens';
import { QueueMonitor } from './queue.monitor';

const ApiQueueName = () =>
  ApiParam({ name: 'name', description: 'work queue (as in `GET /queues`)', schema: { type: 'string' } });

@Controller('api/v1/queues')
export class QueuesController {
  constructor(
    private readonly monitor: QueueMonitor,
    private readonly settings: QueueSettingsRepository,
    private readonly limits: LimitsRepository,
    @Inject(LOGGER) private readonly logger: Logger,
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
      'submissions get 503 `queue_full`). Refreshed every second or two. `concurrency`: the ' +
      'concurrency keys of the queue’s jobs in use or waiting (limit, in use, waiting; read at once).',
  )
  @ApiJson(200, 'every work queue', 'QueueList')
  async list() {
    const keys = await this.limits.concurrencyByQueue();
    return {
      items: this.monitor.views().map((view) => ({ ...view, concurrency: keys.get(view.queue) ?? [] })),
    };
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
  pause(@Caller() caller: Caller, @Param('name') name: string): Promise<QueueView> {
    return this.setPaused(caller, name, true);
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
  resume(@Caller() caller: Caller, @Param('name') name: string): Promise<QueueView> {
    return this.setPaused(caller, name, false);
  }

  private async setPaused(caller: Caller, name: string, paused: boolean): Promise<QueueView> {
    if (!this.monitor.queues().includes(name)) throw new ApiError('not_found', `queue "${name}" not found`);
    // The write notifies every gateway's dispatcher: each re-reads the paused set, and kicks the
    // queue on a resume (a kick from here would find the queue still paused in its set).
    const setting = await this.settings.setPaused(name, paused);
    this.monitor.notePaused(name, paused);
    this.logger.info(
      { queue: name, paused, pausedAt: setting.pausedAt, keyId: caller.keyId },
      paused ? `queue ${name} paused` : `queue ${name} resumed`,
    );
    return this.monitor.view(name) as QueueView;
  }
}
