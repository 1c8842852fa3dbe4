import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import { ApiError, ApiKeyRequestSchema, CleanupRequestSchema, isUuid } from '@switchyard/contracts';
import { ApiKeysService } from '../auth/api-keys.service';
import { RequireScope } from '../auth/caller';
import { ApiErrors, ApiJson, ApiJsonBody, ApiNoContent, ApiQueryParam, ApiRoute } from '../docs/api-docs';
import { bodyParser } from '../http/body';
import { AdminService } from './admin.service';

const parseKeyRequest = bodyParser(ApiKeyRequestSchema);
const parseCleanup = bodyParser(CleanupRequestSchema);

@Controller('api/v1/admin')
@RequireScope('admin')
export class AdminController {
  constructor(
    private readonly keys: ApiKeysService,
    private readonly admin: AdminService,
  ) {}

  @Post('api-keys')
  @HttpCode(201)
  @ApiRoute('admin', 'Create an API key', 'The key is in this response only; the gateway stores its SHA-256.')
  @ApiJsonBody('ApiKeyRequest')
  @ApiJson(201, 'the new key', 'ApiKeyCreated')
  @ApiErrors(400)
  create(@Body() body: unknown) {
    const request = parseKeyRequest(body);
    return this.keys.create(request.tenant, request.name, request.scopes);
  }

  @Get('api-keys')
  @ApiRoute('admin', 'List API keys', 'Without the keys themselves; revoked keys show `revokedAt`.')
  @ApiQueryParam('tenant', 'only this tenant’s keys', { type: 'string', maxLength: 100 })
  @ApiJson(200, 'the keys', 'ApiKeyList')
  async list(@Query('tenant') tenant: string | undefined) {
    const records = await this.keys.list(tenant);
    return {
      items: records.map((r) => ({
        id: r.id,
        tenant: r.tenant,
        name: r.name,
        scopes: r.scopes,
        createdAt: r.createdAt.toISOString(),
        revokedAt: r.revokedAt?.toISOString() ?? null,
      })),
    };
  }

  @Delete('api-keys/:id')
  @HttpCode(204)
  @ApiRoute('admin', 'Revoke an API key', 'Requests with it get 401 from now on, on every gateway.')
  @ApiParam({ name: 'id', description: 'key id', schema: { type: 'string', format: 'uuid' } })
  @ApiNoContent('revoked')
  @ApiErrors(404)
  async revoke(@Param('id') id: string): Promise<void> {
    const found = isUuid(id) && (await this.keys.revoke(id));
    if (!found) throw new ApiError('not_found', `API key ${id} not found`);
  }

  @Post('cleanup')
  @HttpCode(200)
  @ApiRoute(
    'admin',
    'Purge old terminal jobs',
    'Completed, failed and cancelled jobs older than `olderThanDays`, with their events and artifacts.',
  )
  @ApiJsonBody('CleanupRequest')
  @ApiJson(200, 'how many jobs were purged', 'CleanupResult')
  @ApiErrors(400)
  cleanup(@Body() body: unknown) {
    return this.admin.cleanup(parseCleanup(body).olderThanDays);
  }
}
