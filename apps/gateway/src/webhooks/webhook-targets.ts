import { Inject, Injectable } from '@nestjs/common';
import { ApiError, type ApiErrorDetail } from '@switchyard/contracts';
import { originOf, WebhooksRepository } from '@switchyard/persistence';
import { GATEWAY_CONFIG, type GatewayConfig } from '../gateway.tokens';
import { checkWebhookTarget, WebhookTargetRefused, type Resolver } from './webhook.target';

/** Resolver webhook targets are checked with (the system's; unit tests pass a stub to the functions). */
export const WEBHOOK_RESOLVER = Symbol('WEBHOOK_RESOLVER');

/**
 * Why a job's `webhookUrl` is refused for its origin: null when `registered` (the origins of the
 * tenant's enabled endpoints) holds it. Origins compare as the WHATWG URL parser spells them:
 * scheme, lower-case host and port, the scheme's default port left out.
 */
export function unregisteredOrigin(url: string, registered: ReadonlySet<string>): string | null {
  let origin: string;
  try {
    origin = originOf(url);
  } catch {
    return 'is not a URL';
  }
  if (origin === 'null') return 'has no origin';
  if (registered.has(origin)) return null;
  return `its origin ${origin} is not the origin of any enabled webhook endpoint of this tenant; register one first (POST /api/v1/webhooks)`;
}

/**
 * Checks of webhook targets: endpoint URLs (the SSRF check) and, at submit, jobs' `webhookUrl`
 * (allowed only on registered origins), which must also share its origin with
 * one of the tenant's enabled endpoints.
 */
@Injectable()
export class WebhookTargets {
  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(WEBHOOK_RESOLVER) private readonly resolve: Resolver,
    private readonly webhooks: WebhooksRepository,
  ) {}

  /** Why `url` is refused as a webhook target (endpoint URLs and jobs' alike), or null. */
  async targetRefusal(url: string): Promise<string | null> {
    try {
      await checkWebhookTarget(url, {
        allowPrivate: this.config.WEBHOOK_ALLOW_PRIVATE,
        resolve: this.resolve,
      });
      return null;
    } catch (error) {
      if (!(error instanceof WebhookTargetRefused)) throw error;
      return error.message;
    }
  }

  /**
   * Refused: 400 `errorCode` (`validation_failed`, or `flow_invalid` for a flow's jobs) with one
   * detail per refused URL (`index` for batch and flow items).
   */
  async check(
    tenant: string,
    urls: readonly { index?: number; url: string }[],
    errorCode: 'validation_failed' | 'flow_invalid' = 'validation_failed',
  ): Promise<void> {
    if (!urls.length) return;
    const origins = new Set<string>();
    for (const { url } of urls) {
      try {
        origins.add(originOf(url));
      } catch {
        // unregisteredOrigin names it below.
      }
    }
    const registered = await this.webhooks.enabledOrigins(tenant, [...origins]);
    const details: ApiErrorDetail[] = [];
    for (const { index, url } of urls) {
      const at = index === undefined ? {} : { index };
      const refusal = unregisteredOrigin(url, registered);
      if (refusal) {
        details.push({ ...at, field: 'webhookUrl', message: refusal });
        continue;
      }
      const refused = await this.targetRefusal(url);
      if (refused !== null) details.push({ ...at, field: 'webhookUrl', message: `is refused: ${refused}` });
    }
    if (details.length) {
      throw new ApiError(
        errorCode,
        'a webhookUrl must have the origin (scheme, host and port) of one of the tenant’s enabled webhook ' +
          'endpoints; nothing was created',
        details,
      );
    }
  }
}
