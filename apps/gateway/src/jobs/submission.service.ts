import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { ApiError, type ApiErrorDetail, type JobView } from '@switchyard/contracts';
import {
  AdmissionStore,
  type AdmissionOutcome,
  type AdmissionRequest,
  type Reservation,
} from '@switchyard/live-state';
import type { GatewayMetrics } from '@switchyard/observability';
import {
  FilesRepository,
  JobQueriesRepository,
  JobsRepository,
  ResultCacheRepository,
  type JobRow,
} from '@switchyard/persistence';
import { tenantScope, type Caller } from '../auth/caller';
import {
  GATEWAY_CONFIG,
  GATEWAY_METRICS,
  LOGGER,
  REDIS,
  type GatewayConfig,
  type Logger,
} from '../gateway.tokens';
import { QueueMonitor } from '../queues/queue.monitor';
import { ActiveJobsCounter } from './active-jobs.counter';
import { JobsService } from './jobs.service';
import { fingerprintOf, SubmissionValidator, type ValidSubmission } from './submission.validator';
import { JobTypeCatalog, typesIn } from '../job-types/job-type.catalog';

/** A job as POST /jobs and POST /jobs/batch return it. */
export type SubmittedJob = JobView & { deduplicated: boolean; cached: boolean };

export interface SubmitResult {
  status: 202 | 200;
  job: SubmittedJob;
}

export interface BatchResult {
  jobs: SubmittedJob[];
  estimatedTotalMs: number;
}

/** How long a request waits for the job another request is creating right now (same key/window). */
const IN_FLIGHT_WAIT_MS = 3000;

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * Admission of submissions (SPEC §4): validation, idempotency keys, the result cache, the dedup
 * window, the tenant quota and queue depth, then one transaction. The Redis checks are one round
 * trip (a Lua script) and run alongside the quota count; when Redis is unavailable the same rules
 * are answered from PostgreSQL.
 */
@Injectable()
export class SubmissionService {
  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(GATEWAY_METRICS) private readonly metrics: GatewayMetrics,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly validator: SubmissionValidator,
    private readonly jobs: JobsService,
    private readonly repository: JobsRepository,
    private readonly queries: JobQueriesRepository,
    private readonly resultCache: ResultCacheRepository,
    private readonly files: FilesRepository,
    private readonly admission: AdmissionStore,
    private readonly monitor: QueueMonitor,
    private readonly active: ActiveJobsCounter,
    private readonly catalog: JobTypeCatalog,
  ) {}

  async submit(caller: Caller, body: unknown, idempotencyHeader: string | undefined): Promise<SubmitResult> {
    await this.catalog.ensureKnown(typesIn(body));
    const item = this.check(withHeaderKey(body, idempotencyHeader));
    await this.checkFiles(caller, [item]);
    const tenant = caller.tenant;
    const jobId = randomUUID();
    const keyHash = item.idempotencyKey === null ? undefined : sha256(item.idempotencyKey);
    // Only an idempotency key compares whole requests.
    const fingerprint = keyHash === undefined ? '' : fingerprintOf(item);
    // Usually answered from memory; a count that could refuse the job is read from PostgreSQL,
    // alongside the Redis round trip.
    const active = this.active.current(tenant, 1);
    active.catch(() => undefined);
    // A request with an idempotency key says itself which requests are the same.
    const useDedup = item.dedupe && keyHash === undefined && this.config.DEDUP_WINDOW_MS > 0;
    if (keyHash === undefined && !item.cacheable && !useDedup) {
      // Nothing for the admission script to look up or reserve: straight to the insert.
      return this.createNew(item, tenant, jobId, fingerprint, undefined, [], active);
    }

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
      if (hit) return hit;
      outcome = await this.admit({ ...request, useCache: false });
    }
    if (outcome === null) return this.submitWithoutRedis(item, tenant, jobId, fingerprint, active);
    switch (outcome.kind) {
      case 'idempotent':
        if (outcome.fingerprint !== fingerprint) throw idempotencyConflict(item.idempotencyKey);
        return {
          status: 200,
          job: this.submitted(await this.inFlightJob(outcome.jobId, tenant), { deduplicated: true }),
        };
      case 'deduplicated':
        this.countDedupHit(tenant);
        return {
          status: 200,
          job: this.submitted(await this.inFlightJob(outcome.jobId, tenant), { deduplicated: true }),
        };
      case 'cached':
        // Only when the entry vanished between the two admissions; count it as a miss.
        return this.submitWithoutRedis(item, tenant, jobId, fingerprint, active);
      case 'new':
        return this.createNew(item, tenant, jobId, fingerprint, keyHash, outcome.reservations, active);
    }
  }

  async submitBatch(caller: Caller, body: unknown): Promise<BatchResult> {
    await this.catalog.ensureKnown(typesIn(body));
    const items = this.checkBatch(body);
    await this.checkFiles(caller, items);
    const tenant = caller.tenant;
    const ids = items.map(() => randomUUID());
    // Fingerprints only compare requests under one idempotency key.
    const fingerprints = items.map((item) => (item.idempotencyKey === null ? '' : fingerprintOf(item)));
    const active = this.active.current(tenant, items.length);
    active.catch(() => undefined);

    // Idempotency keys still count per item; a batch is an explicit list of jobs, so the dedup
    // window and the result cache do not merge its items (each item is one job).
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
        if (this.idempotencyExpired(row)) {
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
    const release = () => this.release(reservations);
    if (conflicts.length) {
      await release();
      throw new ApiError(
        'idempotency_conflict',
        'an idempotency key names a different request; nothing was created',
        conflicts,
      );
    }

    const fresh = items.map((_, i) => i).filter((i) => !existing.has(i));
    let created: JobRow[] = [];
    try {
      if (fresh.length) {
        this.assertQuota(await active, fresh.length, items[fresh[0]].queue);
        const perQueue = new Map<string, number>();
        for (const i of fresh) perQueue.set(items[i].queue, (perQueue.get(items[i].queue) ?? 0) + 1);
        for (const [queue, count] of perQueue) this.monitor.assertRoom(queue, count);
        created = await this.jobs.create(
          fresh.map((i) => items[i]),
          tenant,
          fresh.map((i) => ids[i]),
        );
        this.active.add(tenant, created.length);
      }
    } catch (error) {
      await release();
      if (isIdempotencyViolation(error)) {
        throw new ApiError(
          'idempotency_conflict',
          'an idempotency key of this batch is already taken; retry the batch',
          [],
        );
      }
      throw error;
    }

    const replayed = await this.queries.findManyByIds([...existing.values()], tenant);
    const byId = new Map([...created, ...replayed].map((r) => [r.id, r]));
    // Estimated waits: jobs ahead in the queue, plus the earlier items of this batch that start first.
    const ahead = aheadInBatch(items, fresh);
    const jobs = items.map((_, index) => {
      const row = byId.get(existing.get(index) ?? ids[index]);
      if (!row) throw new Error(`batch item ${index} was neither created nor found`);
      return this.submitted(row, { deduplicated: existing.has(index) }, ahead[index] ?? 0);
    });
    const estimatedTotalMs = jobs.reduce(
      (max, job) =>
        Math.max(
          max,
          (job.estimatedWaitMs ?? 0) + (job.status === 'queued' ? this.monitor.msPerJobOf(job.queue) : 0),
        ),
      0,
    );
    return { jobs, estimatedTotalMs };
  }

  // --- single submissions -------------------------------------------------------------------

  private async createNew(
    item: ValidSubmission,
    tenant: string,
    jobId: string,
    fingerprint: string,
    keyHash: string | undefined,
    reservations: Reservation[],
    active: Promise<number>,
  ): Promise<SubmitResult> {
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
            return cached;
          }
        }
        this.countCacheMiss(tenant);
      }
      this.assertQuota(await active, 1, item.queue);
      this.monitor.assertRoom(item.queue, 1);
      const result = await this.createOrReplay(item, tenant, jobId, fingerprint);
      if (result.status === 200) {
        // PostgreSQL knew the key that Redis had lost: point Redis at the stored job.
        await this.release(reservations);
        if (keyHash !== undefined) {
          void this.remember(() =>
            this.admission.rememberIdempotent(tenant, keyHash, result.job.id, fingerprint),
          );
        }
      }
      return result;
    } catch (error) {
      await this.release(reservations);
      throw error;
    }
  }

  /** The same rules with PostgreSQL only: Redis is down, so nothing is reserved there. */
  private async submitWithoutRedis(
    item: ValidSubmission,
    tenant: string,
    jobId: string,
    fingerprint: string,
    active: Promise<number>,
  ): Promise<SubmitResult> {
    if (item.idempotencyKey !== null) {
      const row = await this.queries.findByIdempotencyKey(tenant, item.idempotencyKey);
      if (row && !this.idempotencyExpired(row)) {
        if (fingerprintOf(rowFields(row)) !== fingerprint) throw idempotencyConflict(item.idempotencyKey);
        return { status: 200, job: this.submitted(row, { deduplicated: true }) };
      }
    }
    if (item.cacheable) {
      const hit = await this.resultCache.lookup(tenant, item.requestHash, this.config.RESULT_CACHE_TTL_S);
      const cached = hit && (await this.cachedJob(tenant, item.requestHash, hit.jobId, false));
      if (cached) return cached;
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
        return { status: 200, job: this.submitted(first, { deduplicated: true }) };
      }
    }
    this.assertQuota(await active, 1, item.queue);
    this.monitor.assertRoom(item.queue, 1);
    return this.createOrReplay(item, tenant, jobId, fingerprint);
  }

  /**
   * Creates the job. PostgreSQL's unique index on (tenant, idempotency key) is the last word when
   * Redis lost a key: the existing job is replayed (same request) or refused (different one);
   * a key older than IDEMPOTENCY_TTL_S is released and the job created after all.
   */
  private async createOrReplay(
    item: ValidSubmission,
    tenant: string,
    jobId: string,
    fingerprint: string,
  ): Promise<SubmitResult> {
    for (let attempt = 0; ; attempt++) {
      try {
        const [row] = await this.jobs.create([item], tenant, [jobId]);
        if (!row) throw new Error('insert returned no row');
        this.active.add(tenant, 1);
        return { status: 202, job: this.submitted(row, {}) };
      } catch (error) {
        if (!isIdempotencyViolation(error) || item.idempotencyKey === null || attempt > 0) throw error;
        const row = await this.queries.findByIdempotencyKey(tenant, item.idempotencyKey);
        if (row && !this.idempotencyExpired(row)) {
          if (fingerprintOf(rowFields(row)) !== fingerprint) throw idempotencyConflict(item.idempotencyKey);
          return { status: 200, job: this.submitted(row, { deduplicated: true }) };
        }
        await this.queries.releaseExpiredIdempotencyKey(
          tenant,
          item.idempotencyKey,
          this.config.IDEMPOTENCY_TTL_S,
        );
      }
    }
  }

  // --- helpers ------------------------------------------------------------------------------

  private check(body: unknown): ValidSubmission {
    const checked = this.validator.check(body);
    if (!checked.ok) throw checked.error;
    return checked.value;
  }

  private checkBatch(body: unknown): ValidSubmission[] {
    const max = this.config.BATCH_MAX_ITEMS;
    const list = body !== null && typeof body === 'object' ? (body as { jobs?: unknown }).jobs : undefined;
    const extra =
      body !== null && typeof body === 'object' ? Object.keys(body).filter((k) => k !== 'jobs') : [];
    if (!Array.isArray(list) || list.length === 0 || list.length > max || extra.length) {
      throw new ApiError(
        'validation_failed',
        `the body must be {"jobs": [...]} with 1 to ${max} items; nothing was created`,
        [
          ...(Array.isArray(list) ? [] : [{ field: 'jobs', message: 'must be an array of job submissions' }]),
          ...(Array.isArray(list) && (list.length === 0 || list.length > max)
            ? [{ field: 'jobs', message: `must have 1 to ${max} items (has ${list.length})` }]
            : []),
          ...extra.map((field) => ({ field, message: 'is not a known property' })),
        ],
      );
    }
    const details: ApiErrorDetail[] = [];
    const items: ValidSubmission[] = [];
    const keys = new Map<string, number>();
    list.forEach((entry, index) => {
      const checked = this.validator.check(entry, index);
      if (!checked.ok) {
        details.push(...checked.error.details);
        return;
      }
      const key = checked.value.idempotencyKey;
      if (key !== null) {
        const first = keys.get(key);
        if (first !== undefined) {
          details.push({ index, field: 'idempotencyKey', message: `repeats the key of item ${first}` });
        }
        keys.set(key, index);
      }
      items.push(checked.value);
    });
    if (details.length) {
      const bad = new Set(details.map((d) => d.index)).size;
      throw new ApiError(
        'validation_failed',
        `${bad} of ${list.length} items are invalid; nothing was created`,
        details,
      );
    }
    return items;
  }

  /** Jobs may reference uploads as `payload.fileId`; it must be one of the tenant's files. */
  private async checkFiles(caller: Caller, items: ValidSubmission[]): Promise<void> {
    const refs = items.flatMap((item, index) =>
      typeof item.payload['fileId'] === 'string' ? [{ index, fileId: item.payload['fileId'] }] : [],
    );
    if (!refs.length) return;
    const wellFormed = refs.filter((r) => /^[0-9a-f-]{36}$/i.test(r.fileId));
    const found = await this.files.existing(
      wellFormed.map((r) => r.fileId),
      tenantScope(caller),
    );
    const missing = refs.filter((r) => !found.has(r.fileId));
    if (missing.length) {
      throw new ApiError(
        'validation_failed',
        'a job references a file that does not exist',
        missing.map((r) => ({
          ...(items.length > 1 ? { index: r.index } : {}),
          field: 'payload.fileId',
          message: `no file ${r.fileId} (upload it with POST /api/v1/files)`,
        })),
      );
    }
  }

  private assertQuota(active: number, adding: number, queue: string): void {
    const max = this.config.TENANT_MAX_ACTIVE_JOBS;
    if (active + adding <= max) return;
    const retryAfter = this.monitor.retryAfterSeconds(queue, active + adding - max);
    throw new ApiError(
      'tenant_quota_exceeded',
      `the tenant has ${active >= max ? `${max} or more` : active} active jobs; at most ${max} may be queued, running or retrying`,
      [],
      { 'retry-after': String(retryAfter) },
    );
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

  private async release(reservations: Reservation[]): Promise<void> {
    if (!reservations.length) return;
    try {
      await this.admission.release(reservations);
    } catch (error) {
      // They expire by themselves (dedup window, idempotency TTL); PostgreSQL stays correct.
      this.logger.warn({ err: error }, 'could not release admission reservations');
    }
  }

  /** The completed job a cache entry names, counting the hit; null when it is gone. */
  private async cachedJob(
    tenant: string,
    requestHash: string,
    jobId: string,
    firstLevel = true,
  ): Promise<SubmitResult | null> {
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
    return { status: 200, job: this.submitted(row, { cached: true }) };
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

  private submitted(
    row: JobRow,
    flags: { deduplicated?: boolean; cached?: boolean },
    extraAhead?: number,
  ): SubmittedJob {
    return {
      ...this.jobs.view(row, extraAhead),
      deduplicated: flags.deduplicated ?? false,
      cached: flags.cached ?? false,
    };
  }

  private idempotencyExpired(row: JobRow): boolean {
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

/** `Idempotency-Key` header into the body (the body's own key must then agree). */
function withHeaderKey(body: unknown, header: string | undefined): unknown {
  if (header === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) return body;
  const own = (body as { idempotencyKey?: unknown }).idempotencyKey;
  if (own !== undefined && own !== header) {
    throw new ApiError('validation_failed', 'the Idempotency-Key header and the body idempotencyKey differ', [
      { field: 'idempotencyKey', message: 'must equal the Idempotency-Key header when both are given' },
    ]);
  }
  return { ...(body as Record<string, unknown>), idempotencyKey: header };
}

/**
 * For each created item, the created items of the same queue that start before it (higher
 * priority, or the same priority and earlier in the batch); 0 for the others.
 */
export function aheadInBatch(items: readonly ValidSubmission[], created: readonly number[]): number[] {
  const ahead = new Array<number>(items.length).fill(0);
  const byQueue = new Map<string, number[]>();
  for (const i of created) {
    const queue = items[i].queue;
    const list = byQueue.get(queue);
    if (list) list.push(i);
    else byQueue.set(queue, [i]);
  }
  for (const list of byQueue.values()) {
    list.sort((a, b) => items[b].priority - items[a].priority || a - b);
    list.forEach((i, rank) => (ahead[i] = rank));
  }
  return ahead;
}

function rowFields(row: JobRow) {
  return {
    type: row.type,
    payload: row.payload,
    priority: row.priority,
    timeoutMs: row.timeout_ms,
    maxAttempts: row.max_attempts,
    metadata: row.metadata,
  };
}

function idempotencyConflict(key: string | null): ApiError {
  return new ApiError(
    'idempotency_conflict',
    `the idempotency key "${key ?? ''}" was used for a different request`,
    [{ field: 'idempotencyKey', message: 'same key, different request' }],
  );
}

/** PostgreSQL's unique violation on (tenant, idempotency_key), through TypeORM or not. */
export function isIdempotencyViolation(error: unknown): boolean {
  const e = error as {
    driverError?: { code?: string; constraint?: string };
    code?: string;
    constraint?: string;
  };
  const pg = e?.driverError ?? e;
  return pg?.code === '23505' && pg.constraint === 'jobs_idempotency';
}
