import { Body, Controller, HttpCode, Param, Post } from '@nestjs/common';
import { JobTokenRequestSchema } from '@switchyard/contracts';
import { JobTokensService } from '../auth/job-tokens.service';
import { Caller, tenantScope } from '../auth/caller';
import { ApiErrors, ApiJobId, ApiJson, ApiJsonBody, ApiRoute } from '../docs/api-docs';
import { bodyParser } from '../http/body';
import { JobsService } from '../jobs/jobs.service';

const parseRequest = bodyParser(JobTokenRequestSchema);

@Controller('api/v1/jobs')
export class JobTokensController {
  constructor(
    private readonly jobs: JobsService,
    private readonly tokens: JobTokensService,
  ) {}

  @Post(':id/tokens')
  @HttpCode(201)
  @ApiRoute(
    'jobs',
    'Mint a job token for a browser',
    'A short-lived, read-only token for this one job, to hand to a browser instead of an API key: it is accepted ' +
      'as `?token=` on GET /jobs/{id}, /jobs/{id}/events and /jobs/{id}/result of this job (another job: 404; ' +
      'expired, or its API key revoked: 401). Origins in CORS_ORIGINS may use those routes from a page.',
  )
  @ApiJobId()
  @ApiJsonBody('JobTokenRequest')
  @ApiJson(201, 'the token', 'JobToken')
  @ApiErrors(400, 404)
  async mint(@Caller() caller: Caller, @Param('id') id: string, @Body() body: unknown) {
    const request = parseRequest(body ?? {});
    const job = await this.jobs.find(id, tenantScope(caller));
    return this.tokens.mint(caller, { id: job.id, tenant: job.tenant }, request.ttlSeconds);
  }
}
