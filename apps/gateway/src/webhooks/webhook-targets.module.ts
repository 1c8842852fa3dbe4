import { Module } from '@nestjs/common';
import { WebhookTargets, WEBHOOK_RESOLVER } from './webhook-targets';
import { systemResolver } from './webhook.target';

/**
 * The resolver webhook targets are checked with, and the submit-time check of jobs' `webhookUrl`:
 * what submissions need of webhooks, without the endpoints' routes.
 */
@Module({
  providers: [{ provide: WEBHOOK_RESOLVER, useValue: systemResolver }, WebhookTargets],
  exports: [WEBHOOK_RESOLVER, WebhookTargets],
})
export class WebhookTargetsModule {}
