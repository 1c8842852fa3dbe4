import { Body, Controller, Get, Headers, Param, Post, Query, Res } from '@nestjs/common';
import { ApiHeader } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ApiError, isJobStatus, JOB_STATUSES, LIMITS } from '@switchyard/contracts';
import type { JobListQuery } from '@switchyard/persistence';
import { Caller, tenantScope } from '../auth/caller';
import {
  ApiErrors,
  ApiJobId,
  ApiJobToken,
  ApiJson,
  ApiJsonBody,
  ApiQueryParam,
  ApiRoute,
} from '../docs/api-docs';
import { parsePageLimit } from '../http/page-limit';
import { HISTORY_PAGE_MAX, JOB_VIEW_HISTORY, JobsService, type ListInclude } from './jobs.service';
import { SubmissionService } from './submission.service';

@Controller('api/v1/jobs')
export class JobsController {
  constructor(
    private readonly jobs: JobsService,
    private readonly submissions: SubmissionService,
  ) {}

  @Post()
  @ApiRoute(
    'jobs',
    'Submit a job',
    'Validates the payload against the job type’s schema, then answers 202 with the new job, or 200 with an ' +
      'existing one: the same idempotency key and request (`deduplicated`), an identical request within ' +
      'DEDUP_WINDOW_MS (`deduplicated`, unless `dedupe: false`), or a completed identical request of a ' +
      'cacheable type (`cached`, no new work).',
  )
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description: 'like `idempotencyKey` in the body (at most 200 characters)',
  })
  @ApiJsonBody('JobSubmission')
  @ApiJson(202, 'the job was accepted', 'SubmittedJob')
  @ApiJson(
    200,
    'an existing job answers this request (deduplicated, idempotent replay or cache hit)',
    'SubmittedJob',
  )
  @ApiErrors(400, 413, 415, 422, 429, 503)
  async submit(
    @Caller() caller: Caller,
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const { status, job } = await this.submissions.submit(caller, body, idempotencyKey);
    void reply.status(status);
    return job;
  }

  @Post('batch')
  @ApiRoute(
    'jobs',
    'Submit a batch of jobs, all or nothing',
    'Every item is validated first; one invalid item (named by its `index` in `details`) creates nothing. ' +
      'The batch counts as one request against the rate limit and as its item count against quotas, and ' +
      'is inserted in one transaction. Items with an idempotency key already used for the same request ' +
      'answer with that job (`deduplicated`).',
  )
  @ApiJsonBody('BatchRequest')
  @ApiJson(202, 'every job was accepted', 'BatchResponse')
  @ApiErrors(400, 413, 415, 422, 429, 503)
  async batch(
    @Caller() caller: Caller,
    @Body() body: unknown,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const result = await this.submissions.submitBatch(caller, body);
    void reply.status(202);
    return result;
  }

  @Get()
  @ApiRoute(
    'jobs',
    'List jobs',
    'Newest first; the caller’s tenant only (admin keys: every tenant, or `tenant`).',
  )
  @ApiQueryParam('status', 'only jobs in this status', { type: 'string', enum: [...JOB_STATUSES] })
  @ApiQueryParam('type', 'only jobs of this type', { type: 'string', maxLength: LIMITS.typeLength })
  @ApiQueryParam('queue', 'only jobs of this queue', { type: 'string', maxLength: LIMITS.typeLength })
  @ApiQueryParam('idempotencyKey', 'only the job submitted with this idempotency key', {
    type: 'string',
    maxLength: 200,
  })
  @ApiQueryParam(
    'metadata',
    '`key=value`: only jobs whose metadata has `key` with this value (compared as text)',
    { type: 'string', maxLength: 200, pattern: '^[^=]+=' },
  )
  @ApiQueryParam('createdAfter', 'ISO-8601', { type: 'string', format: 'date-time' })
  @ApiQueryParam('createdBefore', 'ISO-8601', { type: 'string', format: 'date-time' })
  @ApiQueryParam('limit', `page size, at most ${LIMITS.listLimitMax}`, {
    type: 'integer',
    minimum: 1,
    maximum: LIMITS.listLimitMax,
    default: LIMITS.listLimitDefault,
  })
  @ApiQueryParam('cursor', 'nextCursor of the previous page', { type: 'string', maxLength: 200 })
  @ApiQueryParam('tenant', 'admin keys only: one tenant', { type: 'string', maxLength: 100 })
  @ApiQueryParam(
    'include',
    'items are summaries without `payload` and `result`; `payload`, `result` or `payload,result` adds them',
    { type: 'string', maxLength: 50 },
  )
  @ApiJson(200, 'a page of job summaries', 'JobSummaryList')
  @ApiErrors(400)
  list(@Caller() caller: Caller, @Query() query: Record<string, string | undefined>) {
    const include = parseInclude(query['include']);
    return this.jobs.list(parseListQuery(query, caller), include);
  }

  @Get(':id')
  @ApiRoute(
    'jobs',
    'Get one job',
    `With the last ${JOB_VIEW_HISTORY} entries of its step and progress history (\`historyTruncated\` ` +
      'and `historyNext` when there are more); `estimatedWaitMs` while queued.',
  )
  @ApiJobId()
  @ApiJobToken()
  @ApiJson(200, 'the job', 'JobDetail')
  @ApiErrors(404)
  get(@Caller() caller: Caller, @Param('id') id: string) {
    return this.jobs.get(id, tenantScope(caller));
  }

  @Get(':id/history')
  @ApiRoute('jobs', 'Page one job’s history', 'Oldest first; follow `nextCursor` until it is null.')
  @ApiJobId()
  @ApiQueryParam('limit', `page size, at most ${HISTORY_PAGE_MAX}`, {
    type: 'integer',
    minimum: 1,
    maximum: HISTORY_PAGE_MAX,
    default: HISTORY_PAGE_MAX,
  })
  @ApiQueryParam('cursor', 'nextCursor of the previous page', { type: 'string', maxLength: 40 })
  @ApiJson(200, 'a page of history entries', 'HistoryPage')
  @ApiErrors(400, 404)
  history(
    @Caller() caller: Caller,
    @Param('id') id: string,
    @Query('cursor') cursor: string | undefined,
    @Query('limit') rawLimit: string | undefined,
  ) {
    const limit = parsePageLimit(rawLimit, HISTORY_PAGE_MAX, 'history');
    return this.jobs.history(id, tenantScope(caller), cursor, limit);
  }
}

/** `include=payload,result` (or repeated) on lists: which large fields list items carry. */
export function parseInclude(raw: string | string[] | undefined): ListInclude {
  const include: ListInclude = { payload: false, result: false };
  if (raw === undefined) return include;
  for (const part of (Array.isArray(raw) ? raw : [raw]).flatMap((r) => r.split(','))) {
    const name = part.trim();
    if (name === 'payload' || name === 'result') include[name] = true;
    else {
      throw new ApiError('validation_failed', 'invalid list query', [
        { field: 'include', message: 'must name payload and/or result, comma-separated' },
      ]);
    }
  }
  return include;
}

const BOUNDED_TEXT = 200;

export function parseListQuery(query: Record<string, string | undefined>, caller: Caller): JobListQuery {
  const problems: { field: string; message: string }[] = [];
  const date = (field: 'createdAfter' | 'createdBefore') => {
    const raw = query[field];
    if (raw === undefined) return undefined;
    const parsed = new Date(raw);
    if (Number.isNaN(parsed.getTime())) problems.push({ field, message: 'must be an ISO-8601 date-time' });
    return parsed;
  };
  const text = (field: 'type' | 'queue' | 'cursor' | 'tenant' | 'idempotencyKey' | 'metadata') => {
    const value = query[field];
    if (value !== undefined && value.length > BOUNDED_TEXT) {
      problems.push({ field, message: `must be at most ${BOUNDED_TEXT} characters` });
    }
    return value;
  };
  let limit: number = LIMITS.listLimitDefault;
  if (query['limit'] !== undefined) {
    limit = Number(query['limit']);
    if (!Number.isInteger(limit) || limit < 1 || limit > LIMITS.listLimitMax) {
      problems.push({ field: 'limit', message: `must be an integer from 1 to ${LIMITS.listLimitMax}` });
    }
  }
  const status = query['status'];
  if (status !== undefined && !isJobStatus(status)) {
    problems.push({ field: 'status', message: `must be one of ${JOB_STATUSES.join(', ')}` });
  }
  const tenant = text('tenant');
  if (tenant !== undefined && !caller.admin && tenant !== caller.tenant) {
    problems.push({ field: 'tenant', message: 'only admin keys may list another tenant' });
  }
  const result: JobListQuery = {
    tenant: caller.admin ? tenant : caller.tenant,
    status: status !== undefined && isJobStatus(status) ? status : undefined,
    type: text('type'),
    queue: text('queue'),
    createdAfter: date('createdAfter'),
    createdBefore: date('createdBefore'),
    idempotencyKey: text('idempotencyKey'),
    metadata: metadataFilter(text('metadata'), problems),
    cursor: text('cursor'),
    limit,
  };
  if (problems.length) throw new ApiError('validation_failed', 'invalid list query', problems);
  return result;
}

/** `metadata=key=value` → `{key, value}` (the first `=` splits; the value may contain more). */
function metadataFilter(
  raw: string | undefined,
  problems: { field: string; message: string }[],
): JobListQuery['metadata'] {
  if (raw === undefined) return undefined;
  const at = raw.indexOf('=');
  if (at < 1) {
    problems.push({ field: 'metadata', message: 'must be key=value' });
    return undefined;
  }
  return { key: raw.slice(0, at), value: raw.slice(at + 1) };
}
