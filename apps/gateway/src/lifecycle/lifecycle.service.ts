import { Injectable } from '@nestjs/common';
import { ApiError, BULK_REPLAY_MAX, isUuid, LIMITS, type JobView } from '@switchyard/contracts';
import { JobsRepository, LifecycleRepository, toJobView } from '@switchyard/persistence';
import { Dispatcher } from '../dispatch/dispatcher';
import { OutboxPublisher } from '../jobs/outbox.publisher';
import { ReplayAdmission } from './replay.admission';

export interface DlqFilter {
  type?: string;
  errorCode?: string;
  limit: number;
}

/** Each bulk replay replays at most this many jobs (the rate limit is RateLimitService's). */
export { BULK_REPLAY_MAX };
/** The fields a bulk replay body may have: anything else (a typo) is refused, never ignored. */
const REPLAY_FIELDS = new Set(['type', 'errorCode', 'limit', 'all']);

/** Cancel, retry and the dead-letter queue (SPEC §4 and §6). */
@Injectable()
export class LifecycleService {
  constructor(
    private readonly lifecycle: LifecycleRepository,
    private readonly jobs: JobsRepository,
    private readonly outbox: OutboxPublisher,
    private readonly admission: ReplayAdmission,
    private readonly dispatcher: Dispatcher,
  ) {}

  /** 200 with the cancelled job, or 202 while a running job is being stopped. */
  async cancel(id: string, tenant: string | undefined): Promise<{ status: 200 | 202; job: JobView }> {
    const outcome = isUuid(id) ? await this.lifecycle.cancel(id, tenant) : ({ kind: 'not_found' } as const);
    switch (outcome.kind) {
      case 'not_found':
        throw new ApiError('not_found', `job ${id} not found`);
      case 'not_cancellable':
        throw new ApiError('not_cancellable', `job ${id} is ${outcome.row.status} and cannot be cancelled`);
      case 'cancelled':
        await this.outbox.publishCommitted(outcome.outbox);
        return { status: 200, job: toJobView(outcome.row) };
      case 'cancel_requested':
        await this.outbox.publishCommitted(outcome.outbox);
        return { status: 202, job: toJobView(outcome.row) };
    }
  }

  /** Runs a failed or cancelled job again with its attempts reset. */
  async retry(id: string, tenant: string | undefined, deadLetteredOnly = false): Promise<JobView> {
    const outcome = isUuid(id)
      ? await this.lifecycle.requeue(id, tenant, deadLetteredOnly)
      : ({ kind: 'not_found' } as const);
    switch (outcome.kind) {
      case 'not_found':
        throw new ApiError(
          'not_found',
          deadLetteredOnly ? `no dead-lettered job ${id}` : `job ${id} not found`,
        );
      case 'not_retryable':
        throw new ApiError(
          'not_retryable',
          outcome.row.flow_id && (outcome.row.status === 'failed' || outcome.row.status === 'cancelled')
            ? `job ${id} depends on jobs that did not complete; retry its flow (POST /api/v1/flows/${outcome.row.flow_id}/retry)`
            : `job ${id} is ${outcome.row.status}; only failed or cancelled jobs run again`,
        );
      case 'queued':
        // Back in the backlog: released by this gateway at once (others hear the notification).
        this.dispatcher.kick([outcome.row.queue]);
        await this.outbox.publishCommitted(outcome.outbox);
        return toJobView(outcome.row);
    }
  }

  /** Retry and single replay: admitted like a new submission (tenant quota, queue depth). */
  async retryAdmitted(id: string, tenant: string | undefined, deadLetteredOnly = false): Promise<JobView> {
    const row = isUuid(id) ? await this.jobs.findById(id, tenant) : null;
    // Only a job that would run again is admitted; the others get retry's own 404 / 409.
    const runsAgain = row?.status === 'failed' || row?.status === 'cancelled';
    if (row && runsAgain && (!deadLetteredOnly || row.dead_lettered)) {
      await this.admission.assertAdmissible(row.tenant, row.queue, 1);
    }
    return this.retry(id, tenant, deadLetteredOnly);
  }

  async listDeadLettered(tenant: string | undefined, filter: DlqFilter & { cursor?: string }) {
    const { rows, nextCursor } = await this.jobs.list({
      tenant,
      deadLettered: true,
      status: 'failed',
      type: filter.type,
      errorCode: filter.errorCode,
      limit: filter.limit,
      cursor: filter.cursor,
    });
    return { items: rows.map(toJobView), nextCursor };
  }

  /**
   * Replays up to `limit` (≤ 100) dead-lettered jobs matching the filter. The caller has taken the
   * shared (Redis) bulk-replay token; the jobs are admitted like new submissions, all or none.
   */
  async replayMatching(
    tenant: string | undefined,
    filter: DlqFilter,
  ): Promise<{ replayed: number; jobs: string[] }> {
    const ids = await this.lifecycle.deadLetteredIds({
      ...filter,
      tenant,
      limit: Math.min(filter.limit, BULK_REPLAY_MAX),
    });
    const rows = (await Promise.all(ids.map((id) => this.jobs.findById(id, tenant)))).filter(
      (row): row is NonNullable<typeof row> => row !== null,
    );
    await this.admission.assertAdmissibleMany(rows.map((r) => ({ tenant: r.tenant, queue: r.queue })));
    const replayed: string[] = [];
    for (const id of ids) {
      const outcome = await this.lifecycle.requeue(id, tenant, true);
      if (outcome.kind === 'queued') {
        this.dispatcher.kick([outcome.row.queue]);
        await this.outbox.publishCommitted(outcome.outbox);
        replayed.push(id);
      }
    }
    return { replayed: replayed.length, jobs: replayed };
  }

  /** Dead-lettered jobs grouped by type and error code with counts (at most 200 groups). */
  async deadLetterGroups(tenant: string | undefined) {
    const groups = await this.lifecycle.deadLetteredGroups(tenant, LIMITS.listLimitMax);
    return {
      items: groups.map((g) => ({ ...g, lastFailedAt: g.lastFailedAt?.toISOString() ?? null })),
    };
  }

  /** Discards up to `limit` (≤ 100) dead-lettered jobs matching the filter, with their history. */
  async discardMatching(
    tenant: string | undefined,
    filter: DlqFilter,
  ): Promise<{ discarded: number; jobs: string[] }> {
    const ids = await this.lifecycle.discardDeadLetteredMatching({
      ...filter,
      tenant,
      limit: Math.min(filter.limit, BULK_REPLAY_MAX),
    });
    return { discarded: ids.length, jobs: ids };
  }

  async discard(id: string, tenant: string | undefined): Promise<void> {
    if (!isUuid(id) || !(await this.lifecycle.discardDeadLettered(id, tenant))) {
      throw new ApiError('not_found', `no dead-lettered job ${id}`);
    }
  }
}

/**
 * The body of `POST /dlq/replay`: `type`, `errorCode`, `limit`, or `all: true`. An unknown field
 * is 400 (a typo must not widen the replay) and so is an empty filter without `all: true`.
 */
export function parseReplayFilter(body: unknown): DlqFilter {
  if (body === undefined || body === null) body = {};
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError('validation_failed', 'the replay filter must be a JSON object', [
      { field: 'body', message: 'must be an object with type, errorCode, limit or all' },
    ]);
  }
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((key) => !REPLAY_FIELDS.has(key));
  if (unknown.length) {
    throw new ApiError(
      'validation_failed',
      `unknown replay filter field${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`,
      unknown.map((field) => ({
        field,
        message: 'not a filter field (allowed: type, errorCode, limit, all)',
      })),
    );
  }
  const details: { field: string; message: string }[] = [];
  for (const key of ['type', 'errorCode'] as const) {
    const value = fields[key];
    if (value !== undefined && (typeof value !== 'string' || value === '' || value.length > 100)) {
      details.push({ field: key, message: 'must be a non-empty string of at most 100 characters' });
    }
  }
  if (fields['limit'] !== undefined && typeof fields['limit'] !== 'number') {
    details.push({ field: 'limit', message: `must be an integer from 1 to ${BULK_REPLAY_MAX}` });
  }
  if (fields['all'] !== undefined && typeof fields['all'] !== 'boolean') {
    details.push({ field: 'all', message: 'must be true or false' });
  }
  if (details.length) throw new ApiError('validation_failed', 'invalid replay filter', details);
  const filter = parseDlqFilter(fields);
  if (filter.limit > BULK_REPLAY_MAX) {
    throw new ApiError('validation_failed', 'invalid limit', [
      { field: 'limit', message: `must be an integer from 1 to ${BULK_REPLAY_MAX}` },
    ]);
  }
  if (filter.type === undefined && filter.errorCode === undefined && fields['all'] !== true) {
    throw new ApiError(
      'validation_failed',
      'an empty filter replays every dead-lettered job: say so with "all": true',
      [{ field: 'all', message: 'required (true) when neither type nor errorCode is given' }],
    );
  }
  if (fields['all'] === true && (filter.type !== undefined || filter.errorCode !== undefined)) {
    throw new ApiError('validation_failed', '"all": true cannot be combined with type or errorCode', [
      { field: 'all', message: 'give either all: true or a filter' },
    ]);
  }
  return filter;
}

export function parseDlqFilter(query: Record<string, unknown>): DlqFilter {
  const limit = query['limit'] === undefined ? LIMITS.listLimitDefault : Number(query['limit']);
  if (!Number.isInteger(limit) || limit < 1 || limit > LIMITS.listLimitMax) {
    throw new ApiError('validation_failed', 'invalid limit', [
      { field: 'limit', message: `must be an integer from 1 to ${LIMITS.listLimitMax}` },
    ]);
  }
  const text = (key: string) => (typeof query[key] === 'string' && query[key] ? query[key] : undefined);
  return { type: text('type'), errorCode: text('errorCode'), limit };
}
