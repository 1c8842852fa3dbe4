import { Body, Controller, Get, Param, Put, Query } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import {
  ApiError,
  TENANT_PATTERN,
  TenantSettingsRequestSchema,
  type TenantSettings,
} from '@switchyard/contracts';
import { LimitsRepository } from '@switchyard/persistence';
import { Caller, RequireScope, tenantScope } from '../auth/caller';
import { ApiErrors, ApiJson, ApiJsonBody, ApiQueryParam, ApiRoute } from '../docs/api-docs';
import { bodyParser } from '../http/body';
import { TenantBudgets } from './tenant-budgets';
import { UsageService } from './usage.service';

const parseTenantSettings = bodyParser(TenantSettingsRequestSchema);
const TENANT = new RegExp(TENANT_PATTERN);

function checkTenant(tenant: string): string {
  if (!TENANT.test(tenant)) {
    throw new ApiError('validation_failed', 'invalid tenant', [
      { field: 'tenant', message: 'letters, digits, . _ -; at most 100' },
    ]);
  }
  return tenant;
}

@Controller('api/v1')
export class UsageController {
  constructor(
    private readonly usage: UsageService,
    private readonly budgets: TenantBudgets,
    private readonly limits: LimitsRepository,
  ) {}

  @Get('usage')
  @ApiRoute(
    'usage',
    'The usage ledger',
    'Units jobs used (`ctx.usage`, provider `usage`, `cpu_seconds`, `wall_seconds`) summed per tenant, ' +
      'job type or UTC day over `from`..`to` (days, inclusive; this month by default). Tenant keys see ' +
      'their own tenant; admin keys every tenant.',
  )
  @ApiQueryParam('groupBy', 'tenant (default), type or day', {
    type: 'string',
    enum: ['tenant', 'type', 'day'],
  })
  @ApiQueryParam('from', 'first day (YYYY-MM-DD or ISO time), default the 1st of this month', {
    type: 'string',
    maxLength: 40,
  })
  @ApiQueryParam('to', 'last day, default today', { type: 'string', maxLength: 40 })
  @ApiJson(200, 'sums per group and unit', 'UsageReport')
  @ApiErrors(400)
  report(@Caller() caller: Caller, @Query() query: Record<string, string | undefined>) {
    return this.usage.report(query, tenantScope(caller));
  }

  @Get('admin/tenants/:tenant')
  @RequireScope('admin')
  @ApiRoute(
    'admin',
    'Get a tenant’s settings',
    'Its fair-share weight and its monthly usage budgets with this month’s use.',
  )
  @ApiParam({ name: 'tenant', schema: { type: 'string', pattern: TENANT_PATTERN } })
  @ApiJson(200, 'the settings', 'TenantSettings')
  @ApiErrors(400)
  get(@Param('tenant') tenant: string) {
    return this.settings(checkTenant(tenant));
  }

  @Put('admin/tenants/:tenant')
  @RequireScope('admin')
  @ApiRoute(
    'admin',
    'Change a tenant’s settings',
    'Every field is optional; a field absent keeps its value. `weight`: the tenant’s fair share (default ' +
      '1; see the dispatcher in docs/architecture.md). `budgets`: per unit `{perMonth}` (null ' +
      'removes it); once a tenant has used a budget this UTC month, submissions get 429 `budget_exhausted` ' +
      'until the next month.',
  )
  @ApiParam({ name: 'tenant', schema: { type: 'string', pattern: TENANT_PATTERN } })
  @ApiJsonBody('TenantSettingsRequest')
  @ApiJson(200, 'the settings', 'TenantSettings')
  @ApiErrors(400)
  async put(@Param('tenant') tenant: string, @Body() body: unknown) {
    const request = parseTenantSettings(body);
    checkTenant(tenant);
    if (request.weight !== undefined) await this.limits.setTenantWeight(tenant, request.weight);
    if (request.budgets !== undefined) await this.budgets.update(tenant, request.budgets);
    return this.settings(tenant);
  }

  private async settings(tenant: string): Promise<TenantSettings> {
    const [view, weight] = await Promise.all([this.budgets.view(tenant), this.limits.tenantWeight(tenant)]);
    return { tenant, weight, budgets: view.budgets };
  }
}
