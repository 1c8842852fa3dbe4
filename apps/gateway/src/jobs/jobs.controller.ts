import { Body, Controller, Get, Headers, Param, Post, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ApiError, isJobStatus, LIMITS } from '@switchyard/contracts';
import type { JobListQuery } from '@switchyard/persistence';
import { JobsService } from './jobs.service';

/**
 * Until API keys land (their own issue) every request belongs to this tenant; the tenant is
 * already part of every job, query and event.
 */
export const DEFAULT_TENANT = 'default';

@Controller('api/v1/jobs')
export class JobsController {
  constructor(private readonly jobs: JobsService) {}

  @Post()
  async submit(
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const { status, job } = await this.jobs.submit(body, DEFAULT_TENANT, idempotencyKey);
    void reply.status(status);
    return job;
  }

  @Get()
  list(@Query() query: Record<string, string | undefined>) {
    return this.jobs.list(parseListQuery(query, DEFAULT_TENANT));
  }

  @Get(':id')
  get(@Param('id') id: string) {
    return this.jobs.get(id, DEFAULT_TENANT);
  }
}

export function parseListQuery(query: Record<string, string | undefined>, tenant: string): JobListQuery {
  const problems: { field: string; message: string }[] = [];
  const date = (field: 'createdAfter' | 'createdBefore') => {
    const raw = query[field];
    if (raw === undefined) return undefined;
    const parsed = new Date(raw);
    if (Number.isNaN(parsed.getTime())) problems.push({ field, message: 'must be an ISO-8601 date-time' });
    return parsed;
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
    problems.push({ field: 'status', message: 'must be a job status' });
  }
  const result: JobListQuery = {
    tenant,
    status: status !== undefined && isJobStatus(status) ? status : undefined,
    type: query['type'],
    queue: query['queue'],
    createdAfter: date('createdAfter'),
    createdBefore: date('createdBefore'),
    cursor: query['cursor'],
    limit,
  };
  if (problems.length) throw new ApiError('validation_failed', 'invalid list query', problems);
  return result;
}
