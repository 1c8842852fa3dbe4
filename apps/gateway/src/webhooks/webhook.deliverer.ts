import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Counter, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '@switchyard/observability';
import { WebhooksRepository, type DueWebhookDelivery } from '@switchyard/persistence';
import { GATEWAY_CONFIG, LOGGER, METRICS, type GatewayConfig, type Logger } from '../gateway.tokens';
import { webhookHeaders } from './webhook.signer';
import { sendWebhook, type SendOutcome } from './webhook.sender';
import { WEBHOOK_RESOLVER } from './webhook-targets';
import type { Resolver } from './webhook.target';

export const WEBHOOK_DELIVERIES_TOTAL = `${METRIC_PREFIX}webhook_deliveries_total`;

const RETRY_MAX_MS = 3600000;
const JITTER = 0.1;
/** Finished deliveries are kept this long for `GET /webhooks/{id}/deliveries`. */
const KEEP_FINISHED_MS = 7 * 86400000;
const PURGE_EVERY_MS = 3600000;

export type DeliveryOutcome = 'delivered' | 'retrying' | 'failed';

/** The delay before attempt `attempts + 1`: base × 2^(attempts − 1), ±10 %, at least Retry-After. */
export function retryDelayMs(
  baseMs: number,
  attempts: number,
  retryAfterMs = 0,
  random = Math.random,
): number {
  const backoff = Math.min(RETRY_MAX_MS, baseMs * 2 ** Math.max(0, attempts - 1));
  const jittered = backoff * (1 - JITTER + 2 * JITTER * random());
  return Math.round(Math.max(jittered, retryAfterMs));
}

/**
 * Sends due webhook deliveries. Every gateway runs one: it claims due rows (SKIP LOCKED, with a
 * lease), sends each with its Standard Webhooks signature, and records the outcome, so a gateway
 * killed mid-way leaves its claims to expire and another (or itself restarted) sends them again,
 * with the same `webhook-id`.
 */
@Injectable()
export class WebhookDeliverer implements OnModuleInit, OnApplicationShutdown {
  private readonly inFlight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private lastPurge = 0;
  private readonly total: Counter<'outcome'>;

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS) registry: Registry,
    @Inject(WEBHOOK_RESOLVER) private readonly resolve: Resolver,
    private readonly webhooks: WebhooksRepository,
  ) {
    this.total = new Counter({
      name: WEBHOOK_DELIVERIES_TOTAL,
      help: 'Webhook delivery attempts by outcome: delivered (2xx), retrying (failed, retried later), failed (given up)',
      labelNames: ['outcome'],
      registers: [registry],
    });
    for (const outcome of ['delivered', 'retrying', 'failed'] as const) this.total.inc({ outcome }, 0);
  }

  onModuleInit(): void {
    this.timer = setInterval(() => this.kick(), this.config.WEBHOOK_POLL_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.polling;
    await Promise.allSettled([...this.inFlight]);
  }

  /** Looks for due deliveries now (new deliveries, a redelivery). */
  kick(): void {
    if (this.stopped) return;
    if (this.polling) {
      this.again = true;
      return;
    }
    this.polling = this.poll().finally(() => {
      this.polling = undefined;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  private async poll(): Promise<void> {
    const room = this.config.WEBHOOK_CONCURRENCY - this.inFlight.size;
    if (room <= 0) return;
    try {
      await this.purgeOld();
      const due = await this.webhooks.claimDue(room, this.config.WEBHOOK_TIMEOUT_MS + 5000);
      for (const delivery of due) {
        const sending: Promise<void> = this.deliver(delivery).finally(() => {
          this.inFlight.delete(sending);
          this.kick();
        });
        this.inFlight.add(sending);
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'webhook delivery pass failed');
    }
  }

  private async purgeOld(): Promise<void> {
    if (Date.now() - this.lastPurge < PURGE_EVERY_MS) return;
    this.lastPurge = Date.now();
    await this.webhooks.purgeFinished(new Date(Date.now() - KEEP_FINISHED_MS), 1000);
  }

  private async deliver(delivery: DueWebhookDelivery): Promise<void> {
    const headers = webhookHeaders(delivery.secrets, delivery.id, delivery.payload);
    const outcome = await sendWebhook(delivery.url, delivery.payload, headers, {
      allowPrivate: this.config.WEBHOOK_ALLOW_PRIVATE,
      resolve: this.resolve,
      timeoutMs: this.config.WEBHOOK_TIMEOUT_MS,
    });
    try {
      await this.record(delivery, outcome);
    } catch (error) {
      // The claim expires and the delivery is sent again: at least once, same webhook-id.
      this.logger.warn({ err: error, deliveryId: delivery.id }, 'could not record a webhook attempt');
    }
  }

  private async record(delivery: DueWebhookDelivery, outcome: SendOutcome): Promise<void> {
    if (outcome.ok) {
      await this.webhooks.recordSuccess(delivery, outcome.status ?? 200);
      this.total.inc({ outcome: 'delivered' });
      return;
    }
    const attempts = delivery.attempts + 1;
    const at = Date.now() + retryDelayMs(this.config.WEBHOOK_RETRY_BASE_MS, attempts, outcome.retryAfterMs);
    const retryAt = outcome.retryable && at <= delivery.retryUntil.getTime() ? new Date(at) : null;
    const error = outcome.error ?? 'failed';
    const disabled = await this.webhooks.recordFailure(
      delivery,
      { status: outcome.status, error, retryAt },
      this.config.WEBHOOK_RETRY_WINDOW_MS,
    );
    this.total.inc({ outcome: retryAt ? 'retrying' : 'failed' });
    this.logger.info(
      {
        deliveryId: delivery.id,
        endpointId: delivery.endpointId,
        attempts,
        status: outcome.status,
        error,
        retryAt,
      },
      retryAt ? 'webhook attempt failed; retrying' : 'webhook delivery failed; given up',
    );
    if (disabled) {
      this.logger.warn(
        { endpointId: delivery.endpointId },
        'webhook endpoint disabled: failing for the retry window',
      );
    }
  }
}
