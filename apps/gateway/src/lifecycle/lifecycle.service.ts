import { Injectable } from '@nestjs/common';
import { ApiError, isUuid, LIMITS, type JobView } from '@switchyard/contracts';
import { JobsRepository, LifecycleRepository, toJobView } from '@switchyard/persistence';
import { OutboxPublisher } from '../outbox/outbox.publisher';

export interface DlqFilter {
  type?: string;
  errorCode?: string;
  limit: number;
}

/** Bulk replays per tenant are spaced at least this far apart, and each replays at most 100 jobs. */
export const BULK_REPLAY_INTERVAL_MS = 1000;
export const BULK_REPLAY_MAX = 100;

/** Cancel, retry and the dead-letter queue (SPEC §4 and §6). */
@Injectable()
export class LifecycleService {
  private readonly lastBulkReplay = new Map<string, number>();

  constructor(
    private readonly lifecycle: LifecycleRepository,
    private readonly jobs: JobsRepository,
    private readonly outbox: OutboxPublisher,
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
          `job ${id} is ${outcome.row.status}; only failed or cancelled jobs run again`,
        );
      case 'queued':
        await this.outbox.publishCommitted(outcome.outbox);
        return toJobView(outcome.row);
    }
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

  /** Replays up to `limit` (≤ 100) dead-lettered jobs matching the filter, at most once a second per tenant. */
  async replayMatching(
    limiterKey: string,
    tenant: string | undefined,
    filter: DlqFilter,
  ): Promise<{ replayed: number; jobs: string[] }> {
    const now = Date.now();
    const last = this.lastBulkReplay.get(limiterKey) ?? 0;
    if (now - last < BULK_REPLAY_INTERVAL_MS) {
      const waitS = Math.ceil((BULK_REPLAY_INTERVAL_MS - (now - last)) / 1000);
      throw new ApiError('rate_limited', 'bulk DLQ replays are limited to one per second', [], {
        'retry-after': String(waitS),
      });
    }
    this.lastBulkReplay.set(limiterKey, now);
    const ids = await this.lifecycle.deadLetteredIds({
      ...filter,
      tenant,
      limit: Math.min(filter.limit, BULK_REPLAY_MAX),
    });
    const replayed: string[] = [];
    for (const id of ids) {
      const outcome = await this.lifecycle.requeue(id, tenant, true);
      if (outcome.kind === 'queued') {
        await this.outbox.publishCommitted(outcome.outbox);
        replayed.push(id);
      }
    }
    return { replayed: replayed.length, jobs: replayed };
  }

  async discard(id: string, tenant: string | undefined): Promise<void> {
    if (!isUuid(id) || !(await this.lifecycle.discardDeadLettered(id, tenant))) {
      throw new ApiError('not_found', `no dead-lettered job ${id}`);
    }
  }
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
