import { Module } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { StreamSlots } from '@switchyard/live-state';
import { GATEWAY_CONFIG, REDIS, type GatewayConfig } from '../gateway.tokens';
import { JobsModule } from '../jobs/jobs.module';
import { EventsController } from './events.controller';
import { EventsService } from './events.service';
import { SSE_SLOT_TTL_MS, SseHub } from './sse.hub';

/** Server-sent event streams of one job or of a tenant's jobs. */
@Module({
  imports: [JobsModule],
  controllers: [EventsController],
  providers: [
    {
      provide: StreamSlots,
      useFactory: (redis: Redis, config: GatewayConfig) =>
        new StreamSlots(redis, { prefix: config.REDIS_PREFIX, ttlMs: SSE_SLOT_TTL_MS }),
      inject: [REDIS, GATEWAY_CONFIG],
    },
    SseHub,
    EventsService,
  ],
  exports: [EventsService],
})
export class EventsModule {}
