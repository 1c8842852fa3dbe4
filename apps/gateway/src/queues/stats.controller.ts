import { Controller, Get, Query } from '@nestjs/common';
import { ApiError } from '@switchyard/contracts';
import { Caller, tenantScope } from '../auth/caller';
import { ApiErrors, ApiJson, ApiQueryParam, ApiRoute } from '../docs/api-docs';
import { StatsService } from './stats.service';

@Controller('api/v1/stats')
export class StatsController {
  constructor(private readonly stats: StatsService) {}

  @Get()
  @ApiRoute(
    'stats',
    'Job statistics',
    'Counts by status and type, throughput, run-time percentiles (completed in the last hour) and the ' +
      'result-cache hit rate, for the caller’s tenant (admin keys: every tenant, or `tenant`).',
  )
  @ApiQueryParam('tenant', 'admin keys only: one tenant', { type: 'string', maxLength: 100 })
  @ApiJson(200, 'the statistics', 'Stats')
  @ApiErrors(400)
  get(@Caller() caller: Caller, @Query('tenant') tenant: string | undefined) {
    if (tenant !== undefined && !caller.admin && tenant !== caller.tenant) {
      throw new ApiError('validation_failed', 'only admin keys may read another tenant’s stats', [
        { field: 'tenant', message: 'admin keys only' },
      ]);
    }
    return this.stats.stats(caller.admin ? tenant : tenantScope(caller));
  }
}
