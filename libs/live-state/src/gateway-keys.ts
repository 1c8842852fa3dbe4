/**
 * Redis names the gateway owns. `prefix` is REDIS_PREFIX, so every key starts with it; tenants
 * and idempotency keys are part of key names only as given by validated input or as hashes.
 */
export interface GatewayKeys {
  /** Token bucket of one limiter scope (`write`, `read`, `anon`) and subject (key id or IP). */
  rateLimit(scope: string, subject: string): string;
  /** Idempotency key of a tenant → `jobId|fingerprint`, kept IDEMPOTENCY_TTL_S. */
  idempotency(tenant: string, keyHash: string): string;
  /** Dedup window of a tenant's request hash → the job accepted first, kept DEDUP_WINDOW_MS. */
  dedup(tenant: string, requestHash: string): string;
  /** First level of the result cache: a tenant's request hash → the completed job. */
  resultCache(tenant: string, requestHash: string): string;
  /** Hash of counters for /stats: `<tenant>|cache_hits`, `<tenant>|cache_misses`, `<tenant>|dedup_hits`. */
  stats: string;
  /** Pub/sub channel: the SHA-256 of a revoked API key, so every gateway drops it from its cache. */
  revokedKeysChannel: string;
}

export function gatewayKeys(prefix: string): GatewayKeys {
  return {
    rateLimit: (scope, subject) => `${prefix}rl:${scope}:${subject}`,
    idempotency: (tenant, keyHash) => `${prefix}idem:${tenant}:${keyHash}`,
    dedup: (tenant, requestHash) => `${prefix}dedup:${tenant}:${requestHash}`,
    resultCache: (tenant, requestHash) => `${prefix}rcache:${tenant}:${requestHash}`,
    stats: `${prefix}stats:gateway`,
    revokedKeysChannel: `${prefix}apikeys:revoked`,
  };
}
