import type { Redis } from 'ioredis';
import { TOKEN_BUCKET_LUA } from './token-bucket.script';

export interface BucketPolicy {
  /** Tokens the bucket holds when full: the burst. */
  capacity: number;
  /** Refill rate in tokens per minute. */
  perMinute: number;
}

export interface RateDecision {
  allowed: boolean;
  /** The bucket's capacity (RateLimit-Limit). */
  limit: number;
  /** Whole tokens left after this request (RateLimit-Remaining). */
  remaining: number;
  /** Until another request would be allowed; 0 when this one was. */
  retryAfterMs: number;
  /** Until the bucket is full again (RateLimit-Reset). */
  resetMs: number;
}

const COMMAND = 'switchyardTakeTokens';
type TakeCommand = { [COMMAND](key: string, ...argv: string[]): Promise<[number, number, number, number]> };

/** Token buckets in Redis, shared by every gateway process (SPEC §4 "Limits and protection"). */
export class TokenBucketLimiter {
  constructor(private readonly redis: Redis) {
    redis.defineCommand(COMMAND, { numberOfKeys: 1, lua: TOKEN_BUCKET_LUA });
  }

  /** Takes `cost` tokens from the bucket at `key`; one round trip. */
  async take(key: string, policy: BucketPolicy, cost = 1): Promise<RateDecision> {
    const perSecond = policy.perMinute / 60;
    const [allowed, remaining, wait, full] = await (this.redis as Redis & TakeCommand)[COMMAND](
      key,
      String(policy.capacity),
      String(perSecond),
      String(cost),
    );
    return {
      allowed: allowed === 1,
      limit: policy.capacity,
      remaining,
      retryAfterMs: wait,
      resetMs: full,
    };
  }
}
