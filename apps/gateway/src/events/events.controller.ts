import { applyDecorators, Controller, Get, Headers, Param, Query, Res } from '@nestjs/common';
import { ApiHeader, ApiProduces, ApiResponse } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ApiError } from '@switchyard/contracts';
import { Caller } from '../auth/caller';
import { ApiErrors, ApiJobId, ApiJobToken, ApiQueryParam, ApiRoute } from '../docs/api-docs';
import { EventsService } from './events.service';

const SSE_DESCRIPTION =
  '`text/event-stream`. Events: `snapshot` (JSON: a `JobSnapshot`, `{jobs: [...]}` of them on `/events`), then `job.queued`, `job.started`, ' +
  '`job.progress`, `job.retrying`, `job.completed`, `job.failed`, `job.cancelled` with a `JobEvent` ' +
  'CloudEvent as `data:`; on `/jobs/{id}/events` also `log` events (a `JobLogEvent`: lines the handler ' +
  'logged with `ctx.log`, without `id:`); a `: keep-alive` comment every SSE_KEEPALIVE_MS.';

/** The 200 answer of both streams. */
const ApiEventStream = () =>
  applyDecorators(
    ApiProduces('text/event-stream'),
    ApiResponse({
      status: 200,
      description: SSE_DESCRIPTION,
      content: { 'text/event-stream': { schema: { type: 'string' } } },
    }),
  );

@Controller('api/v1')
export class EventsController {
  constructor(private readonly events: EventsService) {}

  @Get('jobs/:id/events')
  @ApiRoute(
    'events',
    'Stream one job’s events (SSE)',
    'First a `snapshot` event (the job with the `seq` it reflects), then one event per job event with ' +
      '`id:` = the job’s event sequence; the stream closes after the terminal event. Reconnect with ' +
      '`Last-Event-ID` to get exactly the events after that id.',
  )
  @ApiJobId()
  @ApiJobToken()
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'resume after this event id (seq)' })
  @ApiEventStream()
  @ApiErrors(400, 404)
  async jobEvents(
    @Caller() caller: Caller,
    @Param('id') id: string,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    await this.events.streamJob(caller, id, lastEventId, reply);
  }

  @Get('events')
  @ApiRoute(
    'events',
    'Stream every event of the caller’s jobs (SSE)',
    'First a `snapshot` event (`{jobs: [...]}`: the caller’s queued, running and retrying jobs, at most ' +
      '200), then every job event of the caller’s tenant (admin keys: every tenant) with `id:` = ' +
      '`<jobId>:<seq>`. Reconnecting restates the snapshot; per-job replay is `/jobs/{id}/events`.',
  )
  @ApiQueryParam('type', 'only events of jobs of this type', { type: 'string', maxLength: 100 })
  @ApiQueryParam('queue', 'only events of jobs on this queue', { type: 'string', maxLength: 100 })
  @ApiEventStream()
  @ApiErrors(400)
  async tenantEvents(
    @Caller() caller: Caller,
    @Query('type') type: string | undefined,
    @Query('queue') queue: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    for (const [field, value] of [
      ['type', type],
      ['queue', queue],
    ] as const) {
      if (value !== undefined && value.length > 100) {
        throw new ApiError('validation_failed', `${field} is too long`, [
          { field, message: 'at most 100 characters' },
        ]);
      }
    }
    await this.events.streamTenant(caller, { type, queue }, reply);
  }
}
