import { Module } from '@nestjs/common';
import { JobWebhookUrls, WEBHOOK_RESOLVER } from './job-webhook-urls';
import { systemResolver } from './webhook.target';

/**
 * The resolver webhook targets are checked with, and the submit-time check of jobs' `webhookUrl`:
 * what submissions need of webhooks, without the endpoints' routes.
 */
@Module({
  providers: [{ provide: WEBHOOK_RESOLVER, useValue: systemResolver }, JobWebhookUrls],
  exports: [WEBHOOK_RESOLVER, JobWebhookUrls],
})
export class WebhookTargetsModule {}
