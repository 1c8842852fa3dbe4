import { Controller, Get, Param, Query } from '@nestjs/common';
import { Caller, tenantScope } from '../auth/caller';
import { ApiErrors, ApiJobId, ApiJson, ApiQueryParam, ApiRoute } from '../docs/api-docs';
import { parsePageLimit } from '../http/page-limit';
import { LOG_PAGE_MAX, LogsService } from './logs.service';

@Controller('api/v1/jobs')
export class LogsController {
  constructor(private readonly logs: LogsService) {}

  @Get(':id/logs')
  @ApiRoute(
    'jobs',
    'Page one job’s log lines',
    'What its handler logged with `ctx.log`, in order, every attempt (JOB_LOG_MAX_LINES per attempt; ' +
      '`dropped` counts the rest). Follow `nextCursor` until it is null; `tailCursor` passed later as ' +
      '`cursor` returns the lines logged since. Live lines: `log` events on `/jobs/{id}/events`.',
  )
  @ApiJobId()
  @ApiQueryParam('limit', `page size, at most ${LOG_PAGE_MAX}`, {
    type: 'integer',
    minimum: 1,
    maximum: LOG_PAGE_MAX,
    default: LOG_PAGE_MAX,
  })
  @ApiQueryParam('cursor', 'nextCursor of the previous page', { type: 'string', maxLength: 40 })
  @ApiJson(200, 'a page of log lines', 'JobLogPage')
  @ApiErrors(400, 404)
  page(
    @Param('id') id: string,
    @Query('cursor') cursor: string | undefined,
    @Query('limit') limit: string | undefined,
    @Caller() caller: Caller,
  ) {
    return this.logs.page(id, tenantScope(caller), cursor, parsePageLimit(limit, LOG_PAGE_MAX, 'log'));
  }
}
