import { Body, Controller, HttpCode, Param, Post } from '@nestjs/common';
import { ApiError, JobTokenRequestSchema } from '@switchyard/contracts';
import { FlowsRepository } from '@switchyard/persistence';
import { JobTokensService } from '../auth/job-tokens.service';
import { Caller, tenantScope } from '../auth/caller';
import { ApiErrors, ApiFlowId, ApiJson, ApiJsonBody, ApiRoute } from '../docs/api-docs';
import { bodyParser } from '../http/body';

const parseRequest = bodyParser(JobTokenRequestSchema);

@Controller('api/v1/flows')
export class FlowTokensController {
  constructor(
    private readonly flows: FlowsRepository,
    private readonly tokens: JobTokensService,
  ) {}

  @Post(':id/tokens')
  @HttpCode(201)
  @ApiRoute(
    'flows',
    'Mint a flow token for a browser',
    'A short-lived, read-only token for this one flow, to hand to a browser instead of an API key: it is ' +
      'accepted as `?token=` on GET /flows/{id} and /flows/{id}/events of this flow (another flow: 404; ' +
      'any other route, expired, or its API key revoked: 401). Origins in CORS_ORIGINS may use those ' +
      'routes from a page.',
  )
  @ApiFlowId()
  @ApiJsonBody('JobTokenRequest')
  @ApiJson(201, 'the token', 'FlowToken')
  @ApiErrors(400, 404)
  async mint(@Caller() caller: Caller, @Param('id') id: string, @Body() body: unknown) {
    const request = parseRequest(body ?? {});
    const flow = await this.flows.find(id, tenantScope(caller));
    if (!flow) throw new ApiError('not_found', `flow ${id} not found`);
    return this.tokens.mintForFlow(caller, { id: flow.id, tenant: flow.tenant }, request.ttlSeconds);
  }
}
