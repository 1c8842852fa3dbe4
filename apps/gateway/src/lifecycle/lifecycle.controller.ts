import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { LIMITS } from '@switchyard/contracts';
import { Caller, tenantScope } from '../auth/caller';
import {
  ApiErrors,
  ApiJobId,
  ApiJson,
  ApiJsonBody,
  ApiNoContent,
  ApiQueryParam,
  ApiRoute,
} from '../docs/api-docs';
import { RateLimitService } from '../auth/rate-limit.service';
import { LifecycleService, parseDlqFilter, parseReplayFilter } from './lifecycle.service';

@Controller('api/v1')
export class LifecycleController {
  constructor(
    private readonly lifecycle: LifecycleService,
    private readonly rateLimit: RateLimitService,
  ) {}

  @Delete('jobs/:id')
  @ApiRoute(
    'jobs',
    'Cancel a job',
    'Queued or retrying: cancelled at once (200). Running: cancel requested (202), cancelled within CANCEL_GRACE_MS.',
  )
  @ApiJobId()
  @ApiJson(200, 'cancelled', 'Job')
  @ApiJson(202, 'cancel requested; the job ends cancelled within CANCEL_GRACE_MS', 'Job')
  @ApiErrors(404, 409)
  cancel(@Caller() caller: Caller, @Param('id') id: string, @Res({ passthrough: true }) reply: FastifyReply) {
    return this.cancelJob(caller, id, reply);
  }

  @Post('jobs/:id/cancel')
  @ApiRoute('jobs', 'Cancel a job (alias of DELETE /jobs/{id})')
  @ApiJobId()
  @ApiJson(200, 'cancelled', 'Job')
  @ApiJson(202, 'cancel requested; the job ends cancelled within CANCEL_GRACE_MS', 'Job')
  @ApiErrors(404, 409)
  cancelAlias(
    @Caller() caller: Caller,
    @Param('id') id: string,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    return this.cancelJob(caller, id, reply);
  }

  @Post('jobs/:id/retry')
  @HttpCode(202)
  @ApiRoute('jobs', 'Run a failed or cancelled job again', 'Attempts are reset; the job is queued again.')
  @ApiJobId()
  @ApiJson(202, 'queued again', 'Job')
  @ApiErrors(404, 409, 429, 503)
  retry(@Caller() caller: Caller, @Param('id') id: string) {
    return this.lifecycle.retryAdmitted(id, tenantScope(caller));
  }

  @Get('dlq')
  @ApiRoute(
    'dlq',
    'List dead-lettered jobs',
    'Jobs that failed permanently or exhausted their attempts, newest first.',
  )
  @ApiQueryParam('type', 'only jobs of this type', { type: 'string' })
  @ApiQueryParam('errorCode', 'only jobs whose last error has this code', { type: 'string' })
  @ApiQueryParam('limit', 'page size (default 50)', {
    type: 'integer',
    minimum: 1,
    maximum: LIMITS.listLimitMax,
  })
  @ApiQueryParam('cursor', 'nextCursor of the previous page', { type: 'string' })
  @ApiJson(200, 'a page of dead-lettered jobs', 'JobList')
  @ApiErrors(400)
  dlq(@Caller() caller: Caller, @Query() query: Record<string, string | undefined>) {
    return this.lifecycle.listDeadLettered(tenantScope(caller), {
      ...parseDlqFilter(query),
      cursor: query['cursor'],
    });
  }

  @Post('dlq/replay')
  @HttpCode(202)
  @ApiRoute(
    'dlq',
    'Replay dead-lettered jobs by filter',
    'At most 100 jobs per call and one call per second per tenant across all gateways. An unknown field is 400; an empty filter needs `"all": true`. The jobs are admitted like new submissions (tenant quota, queue depth).',
  )
  @ApiJsonBody('ReplayFilter', 'which dead-lettered jobs to replay')
  @ApiJson(202, 'the jobs put back in their queues', 'ReplayResult')
  @ApiErrors(400, 429, 503)
  async replayMatching(@Caller() caller: Caller, @Body() body: unknown) {
    const filter = parseReplayFilter(body);
    await this.rateLimit.checkBulkReplay(caller.admin ? '*' : caller.tenant);
    return this.lifecycle.replayMatching(tenantScope(caller), filter);
  }

  @Get('dlq/groups')
  @ApiRoute(
    'dlq',
    'Dead-lettered jobs grouped by type and error code',
    'One row per (type, last error code) with its count and latest failure, largest first (at most 200 groups). ' +
      'Replay or discard a group with POST /dlq/replay or POST /dlq/discard and the same type and errorCode.',
  )
  @ApiJson(200, 'the groups', 'DeadLetterGroups')
  dlqGroups(@Caller() caller: Caller) {
    return this.lifecycle.deadLetterGroups(tenantScope(caller));
  }

  @Post('dlq/discard')
  @HttpCode(200)
  @ApiRoute(
    'dlq',
    'Discard dead-lettered jobs by filter',
    'The same filter as POST /dlq/replay (at most 100 jobs per call, an empty filter needs `"all": true`); ' +
      'the jobs are deleted with their history.',
  )
  @ApiJsonBody('ReplayFilter', 'which dead-lettered jobs to discard')
  @ApiJson(200, 'the jobs discarded', 'DiscardResult')
  @ApiErrors(400, 429)
  async discardMatching(@Caller() caller: Caller, @Body() body: unknown) {
    const filter = parseReplayFilter(body);
    await this.rateLimit.checkBulkReplay(caller.admin ? '*' : caller.tenant);
    return this.lifecycle.discardMatching(tenantScope(caller), filter);
  }

  @Post('dlq/:id/replay')
  @HttpCode(202)
  @ApiRoute('dlq', 'Replay one dead-lettered job')
  @ApiJobId()
  @ApiJson(202, 'queued again', 'Job')
  // Only failed jobs are dead-lettered, and a replay takes them out of the DLQ: 404, never 409.
  @ApiErrors(404, 429, 503)
  replay(@Caller() caller: Caller, @Param('id') id: string) {
    return this.lifecycle.retryAdmitted(id, tenantScope(caller), true);
  }

  @Delete('dlq/:id')
  @HttpCode(204)
  @ApiRoute('dlq', 'Discard a dead-lettered job')
  @ApiJobId()
  @ApiNoContent('discarded with its history')
  @ApiErrors(404)
  async discard(@Caller() caller: Caller, @Param('id') id: string): Promise<void> {
    await this.lifecycle.discard(id, tenantScope(caller));
  }

  private async cancelJob(caller: Caller, id: string, reply: FastifyReply) {
    const { status, job } = await this.lifecycle.cancel(id, tenantScope(caller));
    void reply.status(status);
    return job;
  }
}
