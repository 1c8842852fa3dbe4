import { Inject, Injectable } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { Redis } from 'ioredis';
import { ApiError } from '@switchyard/contracts';
import { gatewayKeys, TokenBucketLimiter, type BucketPolicy, type GatewayKeys } from '@switchyard/live-state';
import { withTimeout, type GatewayMetrics, type RateLimitScope } from '@switchyard/observability';
import {
  GATEWAY_CONFIG,
  GATEWAY_METRICS,
  LOGGER,
  REDIS,
  type GatewayConfig,
  type Logger,
} from '../gateway.tokens';

/** Bulk DLQ replays: a bucket of one token refilled once a second (SPEC §4, `POST /dlq/replay`). */
export const BULK_REPLAY_POLICY: BucketPolicy = { capacity: 1, perMinute: 60 };

/** A rate-limit check never holds a request longer than this; past it the limiter fails open. */
const DECISION_TIMEOUT_MS = 250;
/** At most one "failing open" log line per this interval (the metric counts every request). */
const FAIL_OPEN_LOG_EVERY_MS = 10000;

/**
 * Every bucket holds the same span of time at its own rate: RATE_LIMIT_BURST requests at the
 * write rate (6 s at the defaults: 60 writes, 300 reads, 6 unauthenticated requests).
 */
export function bucketPolicies(config: GatewayConfig): Record<RateLimitScope, BucketPolicy> {
  const scaled = (perMinute: number) =>
    Math.max(1, Math.round((perMinute * config.RATE_LIMIT_BURST) / config.RATE_LIMIT_WRITE_PER_MIN));
  return {
    write: { capacity: config.RATE_LIMIT_BURST, perMinute: config.RATE_LIMIT_WRITE_PER_MIN },
    read: { capacity: scaled(config.RATE_LIMIT_READ_PER_MIN), perMinute: config.RATE_LIMIT_READ_PER_MIN },
    anon: { capacity: scaled(config.RATE_LIMIT_ANON_PER_MIN), perMinute: config.RATE_LIMIT_ANON_PER_MIN },
  };
}

/**
 * The SPEC §4 limiter: token buckets in Redis per API key (writes, reads) and per client IP
 * (unauthenticated), shared by every gateway process. Sets RateLimit-* headers and answers 429
 * with Retry-After; when Redis is unavailable it lets requests through, logs it and counts it.
 */
@Injectable()
export class RateLimitService {
  private readonly policies: Record<RateLimitScope, BucketPolicy>;
  private readonly keys: GatewayKeys;
  private lastFailOpenLog = 0;

  constructor(
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(GATEWAY_METRICS) private readonly metrics: GatewayMetrics,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly limiter: TokenBucketLimiter,
  ) {
    this.policies = bucketPolicies(config);
    this.keys = gatewayKeys(config.REDIS_PREFIX);
  }

  /** Takes one token for `subject` (key id or client IP); throws 429 `rate_limited` when empty. */
  async check(scope: RateLimitScope, subject: string, reply: FastifyReply): Promise<void> {
    const policy = this.policies[scope];
    if (this.redis.status !== 'ready')
      return this.failOpen(scope, new Error(`redis is ${this.redis.status}`));
    let decision;
    try {
      decision = await decideInTime(this.limiter.take(this.keys.rateLimit(scope, subject), policy));
    } catch (error) {
      return this.failOpen(scope, error);
    }
    const windowSeconds = Math.round((policy.capacity * 60) / policy.perMinute);
    void reply.headers({
      'ratelimit-limit': String(decision.limit),
      'ratelimit-remaining': String(decision.remaining),
      'ratelimit-reset': String(Math.ceil(decision.resetMs / 1000)),
      'ratelimit-policy': `${policy.capacity};w=${windowSeconds}`,
    });
    if (!decision.allowed) {
      this.metrics.rateLimited.inc({ scope });
      const retryAfter = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
      throw new ApiError(
        'rate_limited',
        `rate limit exceeded (${policy.perMinute} ${scope === 'read' ? 'reads' : scope === 'write' ? 'writes' : 'requests'} per minute, burst ${policy.capacity}); retry after ${retryAfter} s`,
        [],
        { 'retry-after': String(retryAfter) },
      );
    }
  }

  /**
   * Bulk DLQ replays: one per BULK_REPLAY_INTERVAL_MS per subject (tenant, or `*` for admin keys),
   * one bucket in Redis shared by every gateway. Fails open like the other buckets.
   */
  async checkBulkReplay(subject: string): Promise<void> {
    if (this.redis.status !== 'ready')
      return this.failOpen('write', new Error(`redis is ${this.redis.status}`));
    let decision;
    try {
      decision = await decideInTime(
        this.limiter.take(this.keys.rateLimit('dlq-replay', subject), BULK_REPLAY_POLICY),
      );
    } catch (error) {
      return this.failOpen('write', error);
    }
    if (decision.allowed) return;
    this.metrics.rateLimited.inc({ scope: 'write' });
    const retryAfter = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
    throw new ApiError('rate_limited', 'bulk DLQ replays are limited to one per second', [], {
      'retry-after': String(retryAfter),
    });
  }

  private failOpen(scope: RateLimitScope, error: unknown): void {
    this.metrics.rateLimiterFailOpen.inc();
    const now = Date.now();
    if (now - this.lastFailOpenLog >= FAIL_OPEN_LOG_EVERY_MS) {
      this.lastFailOpenLog = now;
      this.logger.warn(
        { err: error, scope },
        'rate limiter unavailable (Redis): failing open, requests are not rate-limited',
      );
    }
  }
}

function decideInTime<T>(decision: Promise<T>): Promise<T> {
  return withTimeout(decision, DECISION_TIMEOUT_MS, 'rate limiter timed out');
}
