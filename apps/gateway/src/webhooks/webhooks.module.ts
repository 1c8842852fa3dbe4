import { Module, type OnApplicationBootstrap } from '@nestjs/common';
import { WebhookDeliverer } from './webhook.deliverer';
import { WebhookFanout } from './webhook.fanout';
import { WebhookTargetsModule } from './webhook-targets.module';
import { WebhooksController } from './webhooks.controller';
import { WebhooksService } from './webhooks.service';

/** Webhook endpoints, the fan-out of terminal job events into deliveries, and their sender. */
@Module({
  imports: [WebhookTargetsModule],
  controllers: [WebhooksController],
  providers: [WebhookDeliverer, WebhookFanout, WebhooksService],
})
export class WebhooksModule implements OnApplicationBootstrap {
  constructor(private readonly fanout: WebhookFanout) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.fanout.start();
  }
}
