import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  ApiError,
  isUuid,
  WEBHOOK_EVENT_TYPES,
  WEBHOOK_MAX_ENDPOINTS,
  type WebhookDeliveryPage,
  type WebhookDeliveryView,
  type WebhookEndpointCreated,
  type WebhookEndpointPatch,
  type WebhookEndpointRequest,
  type WebhookEndpointView,
  type WebhookEventType,
} from '@switchyard/contracts';
import {
  WebhooksRepository,
  type WebhookDeliveryRecord,
  type WebhookEndpointRecord,
} from '@switchyard/persistence';
import { tenantScope, type Caller } from '../auth/caller';
import { GATEWAY_CONFIG, LOGGER, type GatewayConfig, type Logger } from '../gateway.tokens';
import { WebhookTargets } from './webhook-targets';
import { WebhookDeliverer } from './webhook.deliverer';
import { WebhookFanout } from './webhook.fanout';
import { generateWebhookSecret } from './webhook.signer';

const DEFAULT_OVERLAP_S = 86400;

const iso = (date: Date | null) => date?.toISOString() ?? null;

function endpointView(r: WebhookEndpointRecord): WebhookEndpointView {
  return {
    id: r.id,
    tenant: r.tenant,
    url: r.url,
    description: r.description,
    eventTypes: r.eventTypes as WebhookEventType[],
    jobTypes: r.jobTypes,
    enabled: r.enabled,
    disabledReason: r.disabledReason,
    failingSince: iso(r.failingSince),
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

function deliveryView(r: WebhookDeliveryRecord): WebhookDeliveryView {
  return {
    id: r.id,
    eventId: r.eventId,
    eventType: r.eventType as WebhookEventType,
    jobId: r.jobId,
    ...(r.url === null ? {} : { url: r.url }),
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: iso(r.nextAttemptAt),
    lastAttemptAt: iso(r.lastAttemptAt),
    lastResponseStatus: r.lastResponseStatus,
    lastError: r.lastError,
    createdAt: r.createdAt.toISOString(),
  };
}

const encodeCursor = (r: WebhookDeliveryRecord) =>
  Buffer.from(`${r.createdAt.toISOString()}|${r.id}`).toString('base64url');

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [time, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(time ?? '');
  if (!id || !isUuid(id) || Number.isNaN(createdAt.getTime())) {
    throw new ApiError('validation_failed', 'cursor is not valid', [
      { field: 'cursor', message: 'is not valid' },
    ]);
  }
  return { createdAt, id };
}

/** Webhook endpoints of the caller's tenant, their secrets and their deliveries. */
@Injectable()
export class WebhooksService {
  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly webhooks: WebhooksRepository,
    private readonly deliverer: WebhookDeliverer,
    private readonly fanout: WebhookFanout,
    private readonly targets: WebhookTargets,
  ) {}

  async create(caller: Caller, body: WebhookEndpointRequest): Promise<WebhookEndpointCreated> {
    await this.checkUrl(body.url);
    if ((await this.webhooks.countEndpoints(caller.tenant)) >= WEBHOOK_MAX_ENDPOINTS) {
      throw new ApiError(
        'validation_failed',
        `a tenant may register at most ${WEBHOOK_MAX_ENDPOINTS} webhook endpoints`,
      );
    }
    const secret = generateWebhookSecret();
    const record = await this.routed((tx) =>
      tx.createEndpoint({
        id: randomUUID(),
        tenant: caller.tenant,
        url: body.url,
        description: body.description ?? null,
        eventTypes: body.eventTypes ?? [...WEBHOOK_EVENT_TYPES],
        jobTypes: body.jobTypes ?? [],
        secret,
      }),
    );
    this.logger.info({ endpointId: record.id, tenant: record.tenant }, 'webhook endpoint created');
    return { ...endpointView(record), secret };
  }

  async list(caller: Caller): Promise<{ items: WebhookEndpointView[] }> {
    const records = await this.webhooks.listEndpoints(
      tenantScope(caller),
      caller.admin ? 1000 : WEBHOOK_MAX_ENDPOINTS,
    );
    return { items: records.map(endpointView) };
  }

  async get(caller: Caller, id: string): Promise<WebhookEndpointView> {
    return endpointView(await this.find(caller, id));
  }

  async update(caller: Caller, id: string, patch: WebhookEndpointPatch): Promise<WebhookEndpointView> {
    if (patch.url !== undefined) await this.checkUrl(patch.url);
    const record = isUuid(id)
      ? await this.routed((tx) => tx.updateEndpoint(id, tenantScope(caller), patch))
      : null;
    if (!record) throw notFound(id);
    if (patch.enabled) this.deliverer.kick();
    return endpointView(record);
  }

  async remove(caller: Caller, id: string): Promise<void> {
    const removed = isUuid(id) && (await this.routed((tx) => tx.deleteEndpoint(id, tenantScope(caller))));
    if (!removed) throw notFound(id);
  }

  async rotateSecret(
    caller: Caller,
    id: string,
    overlapSeconds = DEFAULT_OVERLAP_S,
  ): Promise<WebhookEndpointCreated> {
    const secret = generateWebhookSecret();
    const record = isUuid(id)
      ? await this.webhooks.rotateSecret(id, tenantScope(caller), secret, overlapSeconds * 1000)
      : null;
    if (!record) throw notFound(id);
    this.logger.info({ endpointId: id, overlapSeconds }, 'webhook secret rotated');
    return { ...endpointView(record), secret };
  }

  async deliveries(caller: Caller, id: string, limit: number, cursor?: string): Promise<WebhookDeliveryPage> {
    const endpoint = await this.find(caller, id);
    const after = cursor === undefined ? undefined : decodeCursor(cursor);
    const records = await this.webhooks.listDeliveries(endpoint.id, limit + 1, after);
    const page = records.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map(deliveryView),
      nextCursor: records.length > limit && last ? encodeCursor(last) : null,
    };
  }

  async redeliver(caller: Caller, id: string, deliveryId: string): Promise<WebhookDeliveryView> {
    const endpoint = await this.find(caller, id);
    const record = isUuid(deliveryId)
      ? await this.webhooks.redeliver(endpoint.id, deliveryId, this.config.WEBHOOK_RETRY_WINDOW_MS)
      : null;
    if (!record) throw new ApiError('not_found', `delivery ${deliveryId} not found`);
    this.deliverer.kick();
    return deliveryView(record);
  }

  /** An endpoint change and the fan-out's bindings that follow it, serialised across gateways. */
  private async routed<T>(change: (tx: WebhooksRepository) => Promise<T>): Promise<T> {
    return this.webhooks.withRouting(change, async (eventTypes) => {
      try {
        await this.fanout.route(eventTypes);
      } catch (error) {
        this.logger.warn({ err: error }, 'could not bind the webhook fan-out queue');
        throw new ApiError('service_unavailable', 'the message broker is unavailable; nothing was changed');
      }
    });
  }

  private async find(caller: Caller, id: string): Promise<WebhookEndpointRecord> {
    const record = isUuid(id) ? await this.webhooks.findEndpoint(id, tenantScope(caller)) : null;
    if (!record) throw notFound(id);
    return record;
  }

  private async checkUrl(url: string): Promise<void> {
    const refused = await this.targets.targetRefusal(url);
    if (refused === null) return;
    throw new ApiError('validation_failed', `the webhook URL is refused: ${refused}`, [
      { field: 'url', message: refused },
    ]);
  }
}

const notFound = (id: string) => new ApiError('not_found', `webhook endpoint ${id} not found`);
