import type { FastifyReply } from 'fastify';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { loadConfig, GatewayConfigSchema } from '@switchyard/config';
import { ApiError } from '@switchyard/contracts';
import type { RateDecision, TokenBucketLimiter } from '@switchyard/live-state';
import { createGatewayMetrics, createLogger } from '@switchyard/observability';
import { bucketPolicies, RateLimitService } from './rate-limit.service';

const config = loadConfig(GatewayConfigSchema, {});

function reply() {
  const headers: Record<string, string> = {};
  return {
    headers,
    reply: {
      headers: (h: Record<string, string>) => Object.assign(headers, h),
    } as unknown as FastifyReply,
  };
}

function service(status: string, decision: RateDecision | Error) {
  const registry = new Registry();
  const metrics = createGatewayMetrics(registry);
  const lines: string[] = [];
  const logger = createLogger('test', 'info', { write: (line: string) => lines.push(line) });
  const limiter = {
    take: () => (decision instanceof Error ? Promise.reject(decision) : Promise.resolve(decision)),
  } as unknown as TokenBucketLimiter;
  const redis = { status } as unknown as Redis;
  return { svc: new RateLimitService(config, logger, metrics, redis, limiter), registry, lines };
}

describe('bucketPolicies', () => {
  it('gives every bucket the same span of time at its own rate (SPEC §4 defaults)', () => {
    expect(bucketPolicies(config)).toEqual({
      write: { capacity: 60, perMinute: 600 },
      read: { capacity: 300, perMinute: 3000 },
      anon: { capacity: 6, perMinute: 60 },
    });
  });
});

describe('RateLimitService', () => {
  it('sets RateLimit-* headers and lets the request through while tokens remain', async () => {
    const { svc } = service('ready', {
      allowed: true,
      limit: 60,
      remaining: 59,
      retryAfterMs: 0,
      resetMs: 100,
    });
    const { headers, reply: r } = reply();
    await svc.check('write', 'k1', r);
    expect(headers).toEqual({
      'ratelimit-limit': '60',
      'ratelimit-remaining': '59',
      'ratelimit-reset': '1',
      'ratelimit-policy': '60;w=6',
    });
  });

  it('throws 429 rate_limited with Retry-After when the bucket is empty, and counts it', async () => {
    const { svc, registry } = service('ready', {
      allowed: false,
      limit: 60,
      remaining: 0,
      retryAfterMs: 1500,
      resetMs: 6000,
    });
    let caught: unknown;
    try {
      await svc.check('write', 'k1', reply().reply);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ApiError);
    expect((caught as ApiError).code).toBe('rate_limited');
    expect((caught as ApiError).headers).toEqual({ 'retry-after': '2' });
    expect(await registry.getSingleMetricAsString('switchyard_rate_limited_total')).toContain(
      'scope="write"} 1',
    );
  });

  it('fails open when Redis is down or errs: no error, one log line, every request counted', async () => {
    for (const [status, decision] of [
      ['reconnecting', new Error('unused')],
      ['ready', new Error('READONLY')],
    ] as const) {
      const { svc, registry, lines } = service(status, decision);
      await svc.check('read', 'k1', reply().reply);
      await svc.check('read', 'k1', reply().reply);
      expect(await registry.getSingleMetricAsString('switchyard_rate_limiter_fail_open_total')).toMatch(
        / 2$/m,
      );
      expect(lines.filter((l) => l.includes('failing open'))).toHaveLength(1);
    }
  });
});
