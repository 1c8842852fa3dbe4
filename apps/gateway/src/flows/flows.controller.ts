import { Body, Controller, Delete, Get, Headers, Param, Post, Query, Res } from '@nestjs/common';
import { ApiHeader, ApiProduces, ApiResponse } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { LIMITS } from '@switchyard/contracts';
import { Caller } from '../auth/caller';
import {
  ApiErrors,
  ApiFlowId,
  ApiFlowToken,
  ApiJson,
  ApiJsonBody,
  ApiQueryParam,
  ApiRoute,
} from '../docs/api-docs';
import { parseListQuery } from '../jobs/jobs.controller';
import { FlowsService } from './flows.service';

/** Flows (SPEC §11): jobs that depend on jobs. */
@Controller('api/v1/flows')
export class FlowsController {
  constructor(private readonly flows: FlowsService) {}

  @Post()
  @ApiRoute(
    'flows',
    'Submit a flow of jobs that depend on jobs',
    'Every job is validated like a batch item, then the flow as a whole (refs unique, every `dependsOn` a ' +
      'ref of the flow, no cycle); one problem creates nothing (`flow_invalid`, `details[].index`). The flow ' +
      'is created in one transaction. Jobs without dependencies are `queued` at once, the others `waiting` ' +
      'until their dependencies finish. `Idempotency-Key` applies to the whole flow.',
  )
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description: 'for the whole flow (1 to 200 characters)',
  })
  @ApiJsonBody('FlowRequest')
  @ApiJson(202, 'the flow was accepted', 'SubmittedFlow')
  @ApiJson(200, 'the flow this Idempotency-Key already created (`deduplicated`)', 'SubmittedFlow')
  @ApiErrors(400, 413, 415, 422, 429, 503)
  async create(
    @Res({ passthrough: true }) reply: FastifyReply,
    @Caller() caller: Caller,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Body() body: unknown,
  ) {
    const created = await this.flows.create(caller, body, idempotencyKey);
    void reply.status(created.status);
    return created.flow;
  }

  @Get()
  @ApiRoute(
    'flows',
    'List flows',
    'Newest first; the caller’s tenant only (admin keys: every tenant, or `tenant`).',
  )
  @ApiQueryParam('cursor', 'nextCursor of the previous page', { type: 'string', maxLength: 200 })
  @ApiQueryParam('tenant', 'admin keys only: one tenant', { type: 'string', maxLength: 100 })
  @ApiQueryParam('limit', `flows per page, at most ${LIMITS.listLimitMax}`, {
    type: 'integer',
    minimum: 1,
    maximum: LIMITS.listLimitMax,
    default: LIMITS.listLimitDefault,
  })
  @ApiJson(200, 'a page of flows', 'FlowList')
  @ApiErrors(400)
  list(@Caller() caller: Caller, @Query() query: Record<string, string | undefined>) {
    // The jobs list's checks of limit, cursor and tenant (admin keys only for another tenant).
    const { limit, cursor, tenant } = parseListQuery(
      { limit: query['limit'], cursor: query['cursor'], tenant: query['tenant'] },
      caller,
    );
    return this.flows.list({ limit, cursor, tenant });
  }

  @Get(':id')
  @ApiRoute(
    'flows',
    'Get one flow',
    'Its status (`running`, `completed`, `failed`, `cancelled`), counts by state, and every job (ref, state, ' +
      'progress, dependencies) in dependency order.',
  )
  @ApiFlowId()
  @ApiFlowToken()
  @ApiJson(200, 'the flow', 'Flow')
  @ApiErrors(404)
  get(@Caller() caller: Caller, @Param('id') id: string) {
    return this.flows.get(id, caller);
  }

  @Delete(':id')
  @ApiRoute(
    'flows',
    'Cancel a flow',
    'Cancels every unfinished job: waiting, scheduled, queued and retrying ones at once, running ones through ' +
      'the normal cancel path (they end `cancelled` within CANCEL_GRACE_MS).',
  )
  @ApiFlowId()
  @ApiJson(200, 'what was cancelled', 'FlowActionResult')
  @ApiErrors(404)
  cancel(@Caller() caller: Caller, @Param('id') id: string) {
    return this.flows.cancel(id, caller);
  }

  @Post(':id/retry')
  @ApiRoute(
    'flows',
    'Retry a flow',
    'Runs the failed and cancelled jobs again with everything downstream of them; completed jobs upstream ' +
      'keep their results and do not run again.',
  )
  @ApiFlowId()
  @ApiJson(202, 'the jobs put back', 'FlowActionResult')
  @ApiErrors(404, 409)
  async retry(
    @Caller() caller: Caller,
    @Param('id') id: string,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const result = await this.flows.retry(id, caller);
    void reply.status(202);
    return result;
  }

  @Get(':id/events')
  @ApiRoute(
    'flows',
    'Stream a flow’s events (SSE)',
    'First a `snapshot` event (the `Flow`), then every event of every job of the flow (spawned ones too) with ' +
      '`id:` = `<jobId>:<seq>`; the stream closes once the flow is no longer running.',
  )
  @ApiFlowId()
  @ApiFlowToken()
  @ApiProduces('text/event-stream')
  @ApiResponse({
    status: 200,
    description: '`text/event-stream`: `snapshot`, then `job.*` events (a `JobEvent` CloudEvent as `data:`)',
    content: { 'text/event-stream': { schema: { type: 'string' } } },
  })
  @ApiErrors(404)
  async events(@Caller() caller: Caller, @Param('id') id: string, @Res() reply: FastifyReply): Promise<void> {
    await this.flows.stream(id, caller, reply);
  }
}
