import {
  applyDecorators,
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Patch,
  Post,
  Query,
} from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import {
  ApiError,
  LIMITS,
  ScheduleBackfillSchema,
  ScheduleCreateSchema,
  ScheduleNoteSchema,
  SchedulePatchSchema,
} from '@switchyard/contracts';
import { Caller, tenantScope } from '../auth/caller';
import { ApiErrors, ApiJson, ApiJsonBody, ApiNoContent, ApiQueryParam, ApiRoute } from '../docs/api-docs';
import { bodyParser } from '../http/body';
import { SchedulesService } from './schedules.service';

const parseCreate = bodyParser(ScheduleCreateSchema);
const parsePatch = bodyParser(SchedulePatchSchema);
const parseNote = bodyParser(ScheduleNoteSchema);
const parseBackfill = bodyParser(ScheduleBackfillSchema);

const ApiScheduleId = () =>
  ApiParam({ name: 'id', description: 'schedule id (UUID)', schema: { type: 'string', format: 'uuid' } });

/** `?limit&cursor` of the schedule lists. */
function page(query: Record<string, string | undefined>): { limit: number; cursor: string | undefined } {
  const { limit: rawLimit, cursor } = query;
  const limit = rawLimit === undefined ? LIMITS.listLimitDefault : Number(rawLimit);
  const details = [
    ...(Number.isInteger(limit) && limit >= 1 && limit <= LIMITS.listLimitMax
      ? []
      : [{ field: 'limit', message: `must be an integer from 1 to ${LIMITS.listLimitMax}` }]),
    ...(cursor !== undefined && cursor.length > 200
      ? [{ field: 'cursor', message: 'is not one this API returned' }]
      : []),
  ];
  if (details.length) throw new ApiError('validation_failed', 'invalid list query', details);
  return { limit, cursor };
}

const ApiPage = () =>
  applyDecorators(
    ApiQueryParam('limit', `page size, at most ${LIMITS.listLimitMax}`, {
      type: 'integer',
      minimum: 1,
      maximum: LIMITS.listLimitMax,
      default: LIMITS.listLimitDefault,
    }),
    ApiQueryParam('cursor', 'nextCursor of the previous page', { type: 'string', maxLength: 200 }),
  );

/** Recurring jobs (SPEC §11): `jobs:write` manages them, `jobs:read` reads them, per tenant. */
@Controller('api/v1/schedules')
export class SchedulesController {
  constructor(private readonly schedules: SchedulesService) {}

  @Post()
  @HttpCode(201)
  @ApiRoute(
    'schedules',
    'Create a schedule',
    'A recurring job: `cron` (5 or 6 fields, or an alias such as @hourly, read in `timezone`) or `everyMs`. ' +
      'Each tick creates an ordinary job (validated, admitted and inserted like POST /jobs) with ' +
      '`scheduleId` and `scheduledFor`; `overlap` says what a tick does while an earlier run is unfinished. ' +
      'A tenant has at most TENANT_MAX_SCHEDULES schedules (429 `tenant_quota_exceeded`).',
  )
  @ApiJsonBody('ScheduleRequest')
  @ApiJson(201, 'the schedule', 'Schedule')
  @ApiErrors(400)
  create(@Caller() caller: Caller, @Body() body: unknown) {
    return this.schedules.create(caller.tenant, parseCreate(body));
  }

  @Get()
  @ApiRoute(
    'schedules',
    'List schedules',
    'Newest first; the caller’s tenant only (admin keys: every tenant).',
  )
  @ApiPage()
  @ApiJson(200, 'a page of schedules', 'ScheduleList')
  @ApiErrors(400)
  list(@Caller() caller: Caller, @Query() query: Record<string, string | undefined>) {
    const { limit, cursor } = page(query);
    return this.schedules.list(tenantScope(caller), limit, cursor);
  }

  @Get(':id')
  @ApiRoute('schedules', 'Get one schedule', 'With `nextRunAt`, the next tick.')
  @ApiScheduleId()
  @ApiJson(200, 'the schedule', 'Schedule')
  @ApiErrors(404)
  get(@Caller() caller: Caller, @Param('id') id: string) {
    return this.schedules.get(id, tenantScope(caller));
  }

  @Patch(':id')
  @ApiRoute(
    'schedules',
    'Change a schedule',
    'Only the fields given change; a new cron, everyMs, timezone, startAt or endAt ticks from the next tick after now.',
  )
  @ApiScheduleId()
  @ApiJsonBody('SchedulePatch')
  @ApiJson(200, 'the schedule', 'Schedule')
  @ApiErrors(400, 404)
  patch(@Caller() caller: Caller, @Param('id') id: string, @Body() body: unknown) {
    return this.schedules.patch(id, tenantScope(caller), parsePatch(body));
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiRoute(
    'schedules',
    'Delete a schedule',
    'Its runs stay (they are jobs); unfinished ones run to their end.',
  )
  @ApiScheduleId()
  @ApiNoContent('deleted')
  @ApiErrors(404)
  async delete(@Caller() caller: Caller, @Param('id') id: string): Promise<void> {
    await this.schedules.delete(id, tenantScope(caller));
  }

  @Post(':id/pause')
  @HttpCode(200)
  @ApiRoute('schedules', 'Pause a schedule', 'No new runs; running ones finish. The note says why.')
  @ApiScheduleId()
  @ApiJsonBody('ScheduleNote')
  @ApiJson(200, 'the schedule', 'Schedule')
  @ApiErrors(400, 404)
  pause(@Caller() caller: Caller, @Param('id') id: string, @Body() body: unknown) {
    return this.schedules.pause(id, tenantScope(caller), parseNote(body ?? {}).note);
  }

  @Post(':id/resume')
  @HttpCode(200)
  @ApiRoute('schedules', 'Resume a schedule', 'It ticks again from the next tick after now.')
  @ApiScheduleId()
  @ApiJsonBody('ScheduleNote')
  @ApiJson(200, 'the schedule', 'Schedule')
  @ApiErrors(400, 404)
  resume(@Caller() caller: Caller, @Param('id') id: string, @Body() body: unknown) {
    return this.schedules.resume(id, tenantScope(caller), parseNote(body ?? {}).note);
  }

  @Post(':id/trigger')
  @HttpCode(200)
  @ApiRoute(
    'schedules',
    'Run a schedule now',
    'One run with the tick now, as the overlap policy allows (`skipped_overlap` or `buffered` otherwise).',
  )
  @ApiScheduleId()
  @ApiJson(200, 'what the tick became', 'ScheduleTriggerResult')
  @ApiErrors(404)
  trigger(@Caller() caller: Caller, @Param('id') id: string) {
    return this.schedules.trigger(id, tenantScope(caller));
  }

  @Post(':id/backfill')
  @HttpCode(200)
  @ApiRoute(
    'schedules',
    'Backfill a schedule',
    'A run for every tick in [from, to] that has none yet (at most 1,000 ticks per call), whatever the ' +
      'overlap policy; a second identical backfill creates nothing.',
  )
  @ApiScheduleId()
  @ApiJsonBody('ScheduleBackfill')
  @ApiJson(200, 'how many runs were created', 'ScheduleBackfillResult')
  @ApiErrors(400, 404)
  backfill(@Caller() caller: Caller, @Param('id') id: string, @Body() body: unknown) {
    return this.schedules.backfill(id, tenantScope(caller), parseBackfill(body));
  }

  @Get(':id/runs')
  @ApiRoute(
    'schedules',
    'List a schedule’s runs',
    'The jobs it created, newest tick first, with `scheduledFor`.',
  )
  @ApiScheduleId()
  @ApiPage()
  @ApiJson(200, 'a page of runs (job summaries)', 'JobSummaryList')
  @ApiErrors(400, 404)
  runs(
    @Caller() caller: Caller,
    @Param('id') id: string,
    @Query() query: Record<string, string | undefined>,
  ) {
    const { limit, cursor } = page(query);
    return this.schedules.runsOf(id, tenantScope(caller), limit, cursor);
  }
}
