import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { ApiError, isUuid, type ApiErrorDetail, type SubmittedJob } from '@switchyard/contracts';
import { FilesRepository, IdempotencyKeyTaken, type JobRow } from '@switchyard/persistence';
import { tenantScope, type Caller } from '../auth/caller';
import { GATEWAY_CONFIG, type GatewayConfig } from '../gateway.tokens';
import { QueueMonitor } from '../queues/queue.monitor';
import { WebhookTargets } from '../webhooks/webhook-targets';
import { JobTypeCatalog, typesIn } from '../job-types/job-type.catalog';
import { DuplicateSubmissions } from './duplicate-submissions';
import { JobsService } from './jobs.service';
import { SubmissionLimits } from './submission.limits';
import { fingerprintOf, SubmissionValidator, type ValidSubmission } from './submission.validator';

export interface SubmitResult {
  status: 202 | 200;
  job: SubmittedJob;
}

export interface BatchResult {
  jobs: SubmittedJob[];
  estimatedTotalMs: number;
}

/**
 * Submissions (SPEC §4), REST and AMQP intake alike: validation, then the earlier job that may
 * answer the request (DuplicateSubmissions: idempotency keys, dedup window, result cache), then
 * the tenant quota and queue depth (SubmissionLimits), then one insert (JobsService).
 */
@Injectable()
export class SubmissionService {
  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly validator: SubmissionValidator,
    private readonly catalog: JobTypeCatalog,
    private readonly files: FilesRepository,
    private readonly duplicates: DuplicateSubmissions,
    private readonly limits: SubmissionLimits,
    private readonly jobs: JobsService,
    private readonly monitor: QueueMonitor,
    private readonly webhookTargets: WebhookTargets,
  ) {}

  async submit(caller: Caller, body: unknown, idempotencyHeader: string | undefined): Promise<SubmitResult> {
    // The checks below that have nothing to look up for a request are not entered (each entered
    // async step costs the request promises and microtask turns).
    const types = typesIn(body);
    if (!this.catalog.knows(types)) await this.catalog.ensureKnown(types);
    const item = this.check(withHeaderKey(body, idempotencyHeader));
    if (referencesFile(item)) await this.checkFiles(caller, [item]);
    if (item.webhookUrl) await this.checkWebhookUrls(caller, [item]);
    const tenant = caller.tenant;
    const jobId = randomUUID();
    // Usually answered from memory; a count that could refuse the job is read from PostgreSQL,
    // alongside the Redis round trip.
    const counts = this.limits.counts(tenant, [item]);
    const found = await this.duplicates.find(item, tenant, jobId);
    if (found.kind === 'earlier') return { status: 200, job: this.submitted(found.row, found.flags) };
    try {
      this.limits.assertRoom(await counts, [item]);
      const result = await this.createOrReplay(item, tenant, jobId, found.fingerprint);
      if (result.status === 200) await this.duplicates.replayedByDatabase(found, tenant, result.job.id);
      return result;
    } catch (error) {
      await this.duplicates.release(found.reservations);
      throw error;
    }
  }

  async submitBatch(caller: Caller, body: unknown): Promise<BatchResult> {
    await this.catalog.ensureKnown(typesIn(body));
    const items = this.checkBatch(body);
    await this.checkFiles(caller, items);
    await this.checkWebhookUrls(caller, items);
    const tenant = caller.tenant;
    const ids = items.map(() => randomUUID());
    // Fingerprints only compare requests under one idempotency key.
    const fingerprints = items.map((item) => (item.idempotencyKey === null ? '' : fingerprintOf(item)));
    const counts = this.limits.counts(tenant, items);
    const { existing, reservations } = await this.duplicates.findForBatch(tenant, items, ids, fingerprints);

    const fresh = items.map((_, i) => i).filter((i) => !existing.has(i));
    let created: JobRow[] = [];
    try {
      if (fresh.length) {
        this.limits.assertRoom(
          await counts,
          fresh.map((i) => items[i]),
        );
        created = await this.jobs.create(
          fresh.map((i) => items[i]),
          tenant,
          fresh.map((i) => ids[i]),
        );
        this.limits.created(tenant, created);
      }
    } catch (error) {
      await this.duplicates.release(reservations);
      if (error instanceof IdempotencyKeyTaken) {
        throw new ApiError(
          'idempotency_conflict',
          'an idempotency key of this batch is already taken; retry the batch',
          [],
        );
      }
      throw error;
    }

    const replayed = await this.duplicates.storedJobs([...existing.values()], tenant);
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
        this.limits.created(tenant, [row]);
        return { status: 202, job: this.submitted(row, {}) };
      } catch (error) {
        if (!(error instanceof IdempotencyKeyTaken) || item.idempotencyKey === null || attempt > 0)
          throw error;
        const row = await this.duplicates.holderOfTakenKey(tenant, item.idempotencyKey, fingerprint);
        if (row) return { status: 200, job: this.submitted(row, { deduplicated: true }) };
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
  async checkFiles(
    caller: Caller,
    items: ValidSubmission[],
    errorCode: 'validation_failed' | 'flow_invalid' = 'validation_failed',
  ): Promise<void> {
    const refs = items.flatMap((item, index) =>
      referencesFile(item) ? [{ index, fileId: item.payload['fileId'] as string }] : [],
    );
    if (!refs.length) return;
    const wellFormed = refs.filter((r) => isUuid(r.fileId));
    const found = await this.files.existing(
      wellFormed.map((r) => r.fileId),
      tenantScope(caller),
    );
    const missing = refs.filter((r) => !found.has(r.fileId));
    if (missing.length) {
      throw new ApiError(
        errorCode,
        'a job references a file that does not exist',
        missing.map((r) => ({
          ...(items.length > 1 ? { index: r.index } : {}),
          field: 'payload.fileId',
          message: `no file ${r.fileId} (upload it with POST /api/v1/files)`,
        })),
      );
    }
  }

  /** Jobs' `webhookUrl`s must have the origin of one of the tenant's enabled webhook endpoints. */
  async checkWebhookUrls(
    caller: Caller,
    items: ValidSubmission[],
    errorCode: 'validation_failed' | 'flow_invalid' = 'validation_failed',
  ): Promise<void> {
    const urls = items.flatMap((item, index) =>
      item.webhookUrl ? [{ ...(items.length > 1 ? { index } : {}), url: item.webhookUrl }] : [],
    );
    if (urls.length) await this.webhookTargets.check(caller.tenant, urls, errorCode);
  }

  private submitted(
    row: JobRow,
    flags: { deduplicated?: boolean; cached?: boolean },
    extraAhead?: number,
  ): SubmittedJob {
    // view() builds a fresh object: the flags are added to it rather than to a copy (same fields,
    // same order in the answer).
    const job = this.jobs.view(row, extraAhead) as SubmittedJob;
    job.deduplicated = flags.deduplicated ?? false;
    job.cached = flags.cached ?? false;
    return job;
  }
}

/** Whether a job references an upload (`payload.fileId`), which must be one of the tenant's files. */
function referencesFile(item: ValidSubmission): boolean {
  return typeof item.payload['fileId'] === 'string';
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
