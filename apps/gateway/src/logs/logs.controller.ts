import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiError } from '@switchyard/contracts';
import { Caller, tenantScope } from '../auth/caller';
import { ApiErrors, ApiJobId, ApiJson, ApiQueryParam, ApiRoute } from '../docs/api-docs';
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
    @Caller() caller: Caller,
    @Param('id') id: string,
    @Query('cursor') cursor: string | undefined,
    @Query('limit') rawLimit: string | undefined,
  ) {
    let limit = LOG_PAGE_MAX;
    if (rawLimit !== undefined) {
      limit = Number(rawLimit);
      if (!Number.isInteger(limit) || limit < 1 || limit > LOG_PAGE_MAX) {
        throw new ApiError('validation_failed', 'invalid log query', [
          { field: 'limit', message: `must be an integer from 1 to ${LOG_PAGE_MAX}` },
        ]);
      }
    }
    return this.logs.page(id, tenantScope(caller), cursor, limit);
  }
}
