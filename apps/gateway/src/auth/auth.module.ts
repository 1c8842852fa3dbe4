import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { Redis } from 'ioredis';
import { TokenBucketLimiter } from '@switchyard/live-state';
import { REDIS } from '../gateway.tokens';
import { ApiKeysService } from './api-keys.service';
import { AuthGuard } from './auth.guard';
import { JobTokensService } from './job-tokens.service';
import { LiveKeys } from './live-keys';
import { SessionsService } from './sessions.service';
import { RateLimitService } from './rate-limit.service';

/** API keys, rate limits, and the guard every route passes (public routes opt out by decorator). */
@Module({
  providers: [
    {
      provide: TokenBucketLimiter,
      useFactory: (redis: Redis) => new TokenBucketLimiter(redis),
      inject: [REDIS],
    },
    { provide: APP_GUARD, useClass: AuthGuard },
    ApiKeysService,
    JobTokensService,
    LiveKeys,
    SessionsService,
    RateLimitService,
  ],
  exports: [ApiKeysService, JobTokensService, SessionsService, RateLimitService],
})
export class AuthModule {}
