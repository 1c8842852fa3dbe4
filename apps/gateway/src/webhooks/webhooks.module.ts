import { Module, type OnApplicationBootstrap } from '@nestjs/common';
import { WEBHOOK_RESOLVER, WebhookDeliverer } from './webhook.deliverer';
import { WebhookFanout } from './webhook.fanout';
import { systemResolver } from './webhook.target';
import { WebhooksController } from './webhooks.controller';
import { WebhooksService } from './webhooks.service';

/** Webhook endpoints, the fan-out of terminal job events into deliveries, and their sender. */
@Module({
  controllers: [WebhooksController],
  providers: [
    { provide: WEBHOOK_RESOLVER, useValue: systemResolver },
    WebhookDeliverer,
    WebhookFanout,
    WebhooksService,
  ],
})
export class WebhooksModule implements OnApplicationBootstrap {
  constructor(private readonly fanout: WebhookFanout) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.fanout.start();
  }
}
