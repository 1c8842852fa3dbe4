import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import {
  ApiError,
  WEBHOOK_DELIVERY_PAGE_MAX,
  WebhookEndpointPatchSchema,
  WebhookEndpointRequestSchema,
  WebhookSecretRotationSchema,
} from '@switchyard/contracts';
import { Caller } from '../auth/caller';
import { ApiErrors, ApiJson, ApiJsonBody, ApiNoContent, ApiQueryParam, ApiRoute } from '../docs/api-docs';
import { bodyParser } from '../http/body';
import { WebhooksService } from './webhooks.service';

const parseRequest = bodyParser(WebhookEndpointRequestSchema);
const parsePatch = bodyParser(WebhookEndpointPatchSchema);
const parseRotation = bodyParser(WebhookSecretRotationSchema);

const ApiEndpointId = () =>
  ApiParam({ name: 'id', description: 'webhook endpoint id', schema: { type: 'string', format: 'uuid' } });

function parseLimit(value: string | undefined): number {
  if (value === undefined) return 50;
  const limit = Number(value);
  if (!Number.isInteger(limit) || limit < 1 || limit > WEBHOOK_DELIVERY_PAGE_MAX) {
    throw new ApiError(
      'validation_failed',
      `limit must be an integer from 1 to ${WEBHOOK_DELIVERY_PAGE_MAX}`,
      [{ field: 'limit', message: `1 to ${WEBHOOK_DELIVERY_PAGE_MAX}` }],
    );
  }
  return limit;
}

@Controller('api/v1/webhooks')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Post()
  @HttpCode(201)
  @ApiRoute(
    'webhooks',
    'Register a webhook endpoint',
    'Job CloudEvents of the caller’s tenant (`eventTypes`, default every terminal event; `jobTypes`, default every type) ' +
      'are POSTed to `url`, signed per Standard Webhooks with the `secret` in this answer (shown once).',
  )
  @ApiJsonBody('WebhookEndpointRequest')
  @ApiJson(201, 'the endpoint and its secret', 'WebhookEndpointCreated')
  @ApiErrors(400)
  create(@Caller() caller: Caller, @Body() body: unknown) {
    return this.webhooks.create(caller, parseRequest(body));
  }

  @Get()
  @ApiRoute('webhooks', 'List webhook endpoints', 'Without their secrets.')
  @ApiJson(200, 'the endpoints', 'WebhookEndpointList')
  list(@Caller() caller: Caller) {
    return this.webhooks.list(caller);
  }

  @Get(':id')
  @ApiRoute('webhooks', 'Get one webhook endpoint')
  @ApiEndpointId()
  @ApiJson(200, 'the endpoint', 'WebhookEndpoint')
  @ApiErrors(404)
  get(@Caller() caller: Caller, @Param('id') id: string) {
    return this.webhooks.get(caller, id);
  }

  @Patch(':id')
  @ApiRoute(
    'webhooks',
    'Change a webhook endpoint',
    'Absent fields keep their value; `enabled: true` re-enables an endpoint Switchyard disabled.',
  )
  @ApiEndpointId()
  @ApiJsonBody('WebhookEndpointPatch')
  @ApiJson(200, 'the endpoint', 'WebhookEndpoint')
  @ApiErrors(400, 404)
  update(@Caller() caller: Caller, @Param('id') id: string, @Body() body: unknown) {
    return this.webhooks.update(caller, id, parsePatch(body));
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiRoute('webhooks', 'Delete a webhook endpoint', 'With its deliveries; pending ones are not sent.')
  @ApiEndpointId()
  @ApiNoContent('deleted')
  @ApiErrors(404)
  async remove(@Caller() caller: Caller, @Param('id') id: string): Promise<void> {
    await this.webhooks.remove(caller, id);
  }

  @Post(':id/rotate-secret')
  @HttpCode(200)
  @ApiRoute(
    'webhooks',
    'Rotate a webhook endpoint’s secret',
    'The new secret is in this answer only; the old one keeps signing too (a second `v1,` signature) for `overlapSeconds`.',
  )
  @ApiEndpointId()
  @ApiJsonBody('WebhookSecretRotation')
  @ApiJson(200, 'the endpoint and its new secret', 'WebhookEndpointCreated')
  @ApiErrors(400, 404)
  rotate(@Caller() caller: Caller, @Param('id') id: string, @Body() body: unknown) {
    return this.webhooks.rotateSecret(caller, id, parseRotation(body ?? {}).overlapSeconds);
  }

  @Get(':id/deliveries')
  @ApiRoute(
    'webhooks',
    'List an endpoint’s deliveries',
    'Newest first: status, attempts, last response code and time.',
  )
  @ApiEndpointId()
  @ApiQueryParam('limit', `page size (default 50)`, {
    type: 'integer',
    minimum: 1,
    maximum: WEBHOOK_DELIVERY_PAGE_MAX,
  })
  @ApiQueryParam('cursor', 'nextCursor of the previous page', { type: 'string' })
  @ApiJson(200, 'a page of deliveries', 'WebhookDeliveryList')
  @ApiErrors(400, 404)
  deliveries(
    @Caller() caller: Caller,
    @Param('id') id: string,
    @Query('limit') limit: string | undefined,
    @Query('cursor') cursor: string | undefined,
  ) {
    return this.webhooks.deliveries(caller, id, parseLimit(limit), cursor);
  }

  @Post(':id/deliveries/:deliveryId/redeliver')
  @HttpCode(202)
  @ApiRoute(
    'webhooks',
    'Send a delivery again',
    'At once, with the same `webhook-id`, whatever its status; failures are retried as for a new delivery.',
  )
  @ApiEndpointId()
  @ApiParam({ name: 'deliveryId', description: 'delivery id', schema: { type: 'string', format: 'uuid' } })
  @ApiJson(202, 'the delivery, pending again', 'WebhookDelivery')
  @ApiErrors(404)
  redeliver(@Caller() caller: Caller, @Param('id') id: string, @Param('deliveryId') deliveryId: string) {
    return this.webhooks.redeliver(caller, id, deliveryId);
  }
}
