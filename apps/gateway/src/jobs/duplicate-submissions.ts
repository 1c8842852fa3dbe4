import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { ApiError, type ApiErrorDetail } from '@switchyard/contracts';
import {
  AdmissionStore,
  type AdmissionOutcome,
  type AdmissionRequest,
  type Reservation,
} from '@switchyard/live-state';
import type { GatewayMetrics } from '@switchyard/observability';
import {
  JobQueriesRepository,
  JobsRepository,
  ResultCacheRepository,
  type JobRow,
} from '@switchyard/persistence';
import {
  GATEWAY_CONFIG,
  GATEWAY_METRICS,
  LOGGER,
  REDIS,
  type GatewayConfig,
  type Logger,
} from '../gateway.tokens';
import { fingerprintOf, type ValidSubmission } from './submission.validator';

/** How long a request waits for the job another request is creating right now (same key/window). */
const IN_FLIGHT_WAIT_MS = 3000;

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** An earlier job that answers the submission: replayed for its key, deduplicated, or cached. */
export interface Earlier {
  kind: 'earlier';
  row: JobRow;
  flags: { deduplicated?: boolean; cached?: boolean };
}

/** No earlier job: the submission is created, holding `reservations` until it is committed. */
export interface Fresh {
  kind: 'fresh';
  /** Compares requests under one idempotency key ('' without a key). */
  fingerprint: string;
  reservations: Reservation[];
  /** The key's hash when Redis admitted the submission (Redis is then told about a replay). */
  keyHash: string | undefined;
}

/**
 * Idempotency keys, the dedup window and the result cache (SPEC §4): finds the earlier job that
 * answers a submission. The Redis checks are one round trip (a Lua script) that also reserves
 * the key and window for the new job; when Redis cannot answer, the same rules are answered from
 * PostgreSQL, whose unique (tenant, idempotency key) index stays the last word.
 */
@Injectable()
export class DuplicateSubmissions {
  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(GATEWAY_METRICS) private readonly metrics: GatewayMetrics,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly admission: AdmissionStore,
    private readonly repository: JobsRepository,
    private readonly queries: JobQueriesRepository,
    private readonly resultCache: ResultCacheRepository,
  ) {}

  /**
   * The earlier job answering a single submission, or what creating a fresh one holds; at once
   * (no promise) when there is nothing to look up.
   */
  find(item: ValidSubmission, tenant: string, jobId: string): Fresh | Promise<Earlier | Fresh> {
    const keyHash = item.idempotencyKey === null ? undefined : sha256(item.idempotencyKey);
    // Only an idempotency key compares whole requests.
    const fingerprint = keyHash === undefined ? '' : fingerprintOf(item);
    // A request with an idempotency key says itself which requests are the same.
    const useDedup = item.dedupe && keyHash === undefined && this.config.DEDUP_WINDOW_MS > 0;
    if (keyHash === undefined && !item.cacheable && !useDedup) {
      // Nothing for the admission script to look up or reserve.
      return { kind: 'fresh', fingerprint, reservations: [], keyHash: undefined };
    }
    return this.admitted(item, tenant, jobId, fingerprint, keyHash, useDedup);
  }

  /** find() past its fast path: the admission script, then the cache or the database. */
  private async admitted(
    item: ValidSubmission,
    tenant: string,
    jobId: string,
    fingerprint: string,
    keyHash: string | undefined,
    useDedup: boolean,
  ): Promise<Earlier | Fresh> {
    const request = {
      tenant,
      newJobId: jobId,
      fingerprint,
      requestHash: item.requestHash,
      idempotencyKeyHash: keyHash,
      useCache: item.cacheable,
      useDedup,
    };
    let outcome = await this.admit(request);
    if (outcome?.kind === 'cached') {
      const hit = await this.cachedJob(tenant, item.requestHash, outcome.jobId);
      if (hit) return earlier(hit, { cached: true });
      outcome = await this.admit({ ...request, useCache: false });
    }
    // 'cached' again only when the entry vanished between the two admissions; count it as a miss.
    if (outcome === null || outcome.kind === 'cached') return this.findInDatabase(item, tenant, fingerprint);
    switch (outcome.kind) {
      case 'idempotent':
        if (outcome.fingerprint !== fingerprint) throw idempotencyConflict(item.idempotencyKey);
        return earlier(await this.inFlightJob(outcome.jobId, tenant), { deduplicated: true });
      case 'deduplicated':
        this.countDedupHit(tenant);
        return earlier(await this.inFlightJob(outcome.jobId, tenant), { deduplicated: true });
      case 'new':
        return this.findInResultCache(item, tenant, fingerprint, keyHash, outcome.reservations);
    }
  }

  /**
   * The job holding a key PostgreSQL refused a fresh job for (Redis had lost the key): the same
   * request is replayed, a different one refused; a key older than IDEMPOTENCY_TTL_S is released
   * (null: create the job after all).
   */
  async holderOfTakenKey(tenant: string, key: string, fingerprint: string): Promise<JobRow | null> {
    const row = await this.queries.findByIdempotencyKey(tenant, key);
    if (row && !this.expired(row)) {
      if (fingerprintOf(rowFields(row)) !== fingerprint) throw idempotencyConflict(key);
      return row;
    }
    await this.queries.releaseExpiredIdempotencyKey(tenant, key, this.config.IDEMPOTENCY_TTL_S);
    return null;
  }

  /** A fresh submission turned out to be a replay PostgreSQL knew: point Redis at the stored job. */
  async replayedByDatabase(fresh: Fresh, tenant: string, jobId: string): Promise<void> {
    await this.release(fresh.reservations);
    const { keyHash, fingerprint } = fresh;
    if (keyHash !== undefined) {
      void this.remember(() => this.admission.rememberIdempotent(tenant, keyHash, jobId, fingerprint));
    }
  }

  /**
   * For a batch: the items whose idempotency key names a stored job (item index → job id) and the
   * reservations of the others. Keys still count per item; a batch is an explicit list of jobs, so
   * the dedup window and the result cache do not merge its items. Throws `idempotency_conflict`
   * (reserving nothing) when a key names a different request.
   */
  async findForBatch(
    tenant: string,
    items: readonly ValidSubmission[],
    ids: readonly string[],
    fingerprints: readonly string[],
  ): Promise<{ existing: Map<number, string>; reservations: Reservation[] }> {
    const keyed = items.flatMap((item, index) => (item.idempotencyKey === null ? [] : [index]));
    const existing = new Map<number, string>(); // item index → id of the job its key names
    const reservations: Reservation[] = [];
    const conflicts: ApiErrorDetail[] = [];
    const outcomes = await this.admitMany(
      keyed.map((index) => ({
        tenant,
        newJobId: ids[index],
        fingerprint: fingerprints[index],
        requestHash: items[index].requestHash,
        idempotencyKeyHash: sha256(items[index].idempotencyKey ?? ''),
        useCache: false,
        useDedup: false,
      })),
    );
    const conflict = (index: number) =>
      conflicts.push({
        index,
        field: 'idempotencyKey',
        message: 'this key was used for a different request',
      });
    // Keys Redis does not know (new ones, or all of them when Redis is down) are checked in
    // PostgreSQL too: Redis may have lost a key that a stored job still holds.
    const unknownToRedis: number[] = [];
    keyed.forEach((index, k) => {
      const outcome = outcomes?.[k];
      if (!outcome) unknownToRedis.push(index);
      else if (outcome.kind === 'new') {
        reservations.push(...outcome.reservations);
        unknownToRedis.push(index);
      } else if (outcome.kind === 'idempotent' && outcome.fingerprint !== fingerprints[index])
        conflict(index);
      else if (outcome.kind === 'idempotent') existing.set(index, outcome.jobId);
    });
    if (unknownToRedis.length) {
      const rows = await this.queries.findByIdempotencyKeys(
        tenant,
        unknownToRedis.map((i) => items[i].idempotencyKey ?? ''),
      );
      const byKey = new Map(rows.map((r) => [r.idempotency_key, r]));
      for (const index of unknownToRedis) {
        const key = items[index].idempotencyKey ?? '';
        const row = byKey.get(key);
        if (!row) continue;
        if (this.expired(row)) {
          await this.queries.releaseExpiredIdempotencyKey(tenant, key, this.config.IDEMPOTENCY_TTL_S);
        } else if (fingerprintOf(rowFields(row)) !== fingerprints[index]) conflict(index);
        else {
          existing.set(index, row.id);
          void this.remember(() =>
            this.admission.rememberIdempotent(tenant, sha256(key), row.id, fingerprints[index]),
          );
        }
      }
    }
    if (conflicts.length) {
      await this.release(reservations);
      throw new ApiError(
        'idempotency_conflict',
        'an idempotency key names a different request; nothing was created',
        conflicts,
      );
    }
    return { existing, reservations };
  }

  /** The stored jobs a batch's keys named. */
  storedJobs(jobIds: string[], tenant: string): Promise<JobRow[]> {
    return this.queries.findManyByIds(jobIds, tenant);
  }

  /** Gives back what a submission reserved in Redis when it was not created after all. */
  async release(reservations: Reservation[]): Promise<void> {
    if (!reservations.length) return;
    try {
      await this.admission.release(reservations);
    } catch (error) {
      // They expire by themselves (dedup window, idempotency TTL); PostgreSQL stays correct.
      this.logger.warn({ err: error }, 'could not release admission reservations');
    }
  }

  /** Redis said "new": the durable (second) level of the result cache may still know the request. */
  private async findInResultCache(
    item: ValidSubmission,
    tenant: string,
    fingerprint: string,
    keyHash: string | undefined,
    reservations: Reservation[],
  ): Promise<Earlier | Fresh> {
    try {
      if (item.cacheable) {
        const hit = await this.resultCache.lookup(tenant, item.requestHash, this.config.RESULT_CACHE_TTL_S);
        if (hit) {
          const cached = await this.cachedJob(tenant, item.requestHash, hit.jobId, false);
          if (cached) {
            await this.release(reservations);
            void this.remember(() =>
              this.admission.rememberCached(tenant, item.requestHash, hit.jobId, hit.expiresAt),
            );
            if (keyHash !== undefined) {
              void this.remember(() =>
                this.admission.rememberIdempotent(tenant, keyHash, hit.jobId, fingerprint),
              );
            }
            return earlier(cached, { cached: true });
          }
        }
        this.countCacheMiss(tenant);
      }
    } catch (error) {
      await this.release(reservations);
      throw error;
    }
    return { kind: 'fresh', fingerprint, reservations, keyHash };
  }

  /** The same rules with PostgreSQL only: Redis is down, so nothing is reserved there. */
  private async findInDatabase(
    item: ValidSubmission,
    tenant: string,
    fingerprint: string,
  ): Promise<Earlier | Fresh> {
    if (item.idempotencyKey !== null) {
      const row = await this.queries.findByIdempotencyKey(tenant, item.idempotencyKey);
      if (row && !this.expired(row)) {
        if (fingerprintOf(rowFields(row)) !== fingerprint) throw idempotencyConflict(item.idempotencyKey);
        return earlier(row, { deduplicated: true });
      }
    }
    if (item.cacheable) {
      const hit = await this.resultCache.lookup(tenant, item.requestHash, this.config.RESULT_CACHE_TTL_S);
      const cached = hit && (await this.cachedJob(tenant, item.requestHash, hit.jobId, false));
      if (cached) return earlier(cached, { cached: true });
      this.countCacheMiss(tenant);
    }
    if (item.dedupe && item.idempotencyKey === null && this.config.DEDUP_WINDOW_MS > 0) {
      const first = await this.queries.findRecentByRequestHash(
        tenant,
        item.requestHash,
        this.config.DEDUP_WINDOW_MS,
      );
      if (first) {
        this.countDedupHit(tenant);
        return earlier(first, { deduplicated: true });
      }
    }
    return { kind: 'fresh', fingerprint, reservations: [], keyHash: undefined };
  }

  /** Redis admission, or null when Redis cannot answer (then PostgreSQL decides alone). */
  private async admit(request: AdmissionRequest): Promise<AdmissionOutcome | null> {
    const [outcome] = (await this.admitMany([request])) ?? [null];
    return outcome ?? null;
  }

  private async admitMany(requests: AdmissionRequest[]): Promise<AdmissionOutcome[] | null> {
    if (!requests.length) return [];
    if (this.redis.status !== 'ready') return null;
    try {
      return await this.admission.admitMany(requests);
    } catch (error) {
      this.logger.warn({ err: error }, 'idempotency/dedup check in Redis failed; using PostgreSQL');
      return null;
    }
  }

  /** The completed job a cache entry names, counting the hit; null when it is gone. */
  private async cachedJob(
    tenant: string,
    requestHash: string,
    jobId: string,
    firstLevel = true,
  ): Promise<JobRow | null> {
    const row = await this.repository.findById(jobId, tenant);
    if (!row || row.status !== 'completed') {
      await Promise.allSettled([
        this.admission.forgetCached(tenant, requestHash),
        this.resultCache.remove(tenant, requestHash),
      ]);
      return null;
    }
    this.metrics.cacheHits.inc();
    void this.remember(() => this.admission.count(tenant, 'cache_hits'));
    if (firstLevel) void this.remember(() => this.resultCache.recordHit(tenant, requestHash));
    return row;
  }

  /** A job that another request is creating right now may need a moment to be committed. */
  private async inFlightJob(jobId: string, tenant: string): Promise<JobRow> {
    const deadline = Date.now() + IN_FLIGHT_WAIT_MS;
    for (;;) {
      const row = await this.repository.findById(jobId, tenant);
      if (row) return row;
      if (Date.now() > deadline) {
        throw new ApiError('service_unavailable', 'an identical request is still being accepted; retry', [], {
          'retry-after': '1',
        });
      }
      await delay(25);
    }
  }

  private expired(row: JobRow): boolean {
    return row.created_at.getTime() < Date.now() - this.config.IDEMPOTENCY_TTL_S * 1000;
  }

  private countDedupHit(tenant: string): void {
    this.metrics.dedupHits.inc();
    void this.remember(() => this.admission.count(tenant, 'dedup_hits'));
  }

  private countCacheMiss(tenant: string): void {
    this.metrics.cacheMisses.inc();
    void this.remember(() => this.admission.count(tenant, 'cache_misses'));
  }

  /** Off the request path: counters and cache fills that may fail without failing the request. */
  private async remember(write: () => Promise<unknown>): Promise<void> {
    try {
      await write();
    } catch (error) {
      this.logger.debug({ err: error }, 'background cache/counter write failed');
    }
  }
}

const earlier = (row: JobRow, flags: Earlier['flags']): Earlier => ({ kind: 'earlier', row, flags });

function rowFields(row: JobRow) {
  return {
    type: row.type,
    payload: row.payload,
    priority: row.priority,
    timeoutMs: row.timeout_ms,
    maxAttempts: row.max_attempts,
    metadata: row.metadata,
    webhookUrl: row.webhook_url,
  };
}

function idempotencyConflict(key: string | null): ApiError {
  return new ApiError(
    'idempotency_conflict',
    `the idempotency key "${key ?? ''}" was used for a different request`,
    [{ field: 'idempotencyKey', message: 'same key, different request' }],
  );
}
