import type { DataSource, EntityManager } from 'typeorm';
import type { AmqpNames, JobError } from '@switchyard/contracts';
import type { JobRow } from './job-row';
import { JobsRepository } from './jobs.repository';
import {
  cancelOutboxMessage,
  dispatchOutboxMessage,
  eventOutboxMessage,
  jobEventFromRow,
  queuedEventFromRow,
  type EventTime,
  type OutboxMessage,
  type OutboxRecord,
} from './job-messages';
import { notifyDispatchIn } from './outbox-rows';
import { finishSettling, settleAndRecord } from './flow-dependants';
import { deleteJobsWithHistory, updateWithHistory } from './history-rows';

export type CancelOutcome =
  | { kind: 'cancelled'; row: JobRow; outbox: OutboxRecord[] }
  | { kind: 'cancel_requested'; row: JobRow; outbox: OutboxRecord[] }
  | { kind: 'not_cancellable'; row: JobRow }
  | { kind: 'not_found' };

export type RetryOutcome =
  | { kind: 'queued'; row: JobRow; outbox: OutboxRecord[] }
  | { kind: 'not_retryable'; row: JobRow }
  | { kind: 'not_found' };

export interface LastReport {
  step: string | null;
  progress: number;
  message: string | null;
}

const at = (tenant: string | undefined) => (tenant === undefined ? null : tenant);

/**
 * Every state change outside the main path: cancel, retry and DLQ replay, worker-side retry
 * scheduling, and the sweeper's recovery of lost workers. Each is one conditional update keyed
 * on the current status, committed together with the messages it implies (outbox).
 */
/** Ids of dead-lettered jobs matching ($1 tenant, $2 type, $3 error code), oldest failure first, at most $4. */
const DEAD_LETTERED_MATCHING = `SELECT id FROM jobs
  WHERE dead_lettered AND status = 'failed' AND ($1::text IS NULL OR tenant = $1)
    AND ($2::text IS NULL OR type = $2) AND ($3::text IS NULL OR error->>'code' = $3)
  ORDER BY finished_at, id LIMIT $4`;

/** Which dead-lettered jobs a bulk operation takes. */
interface DeadLetterFilter {
  tenant?: string;
  type?: string;
  errorCode?: string;
  limit: number;
}

function dlqParameters(filter: DeadLetterFilter) {
  return [at(filter.tenant), filter.type ?? null, filter.errorCode ?? null, filter.limit];
}

export class LifecycleRepository {
  private readonly jobs: JobsRepository;

  constructor(
    private readonly db: DataSource,
    // Unused since the catalogue routes outbox messages; dropped once the callers stop passing it.
    _names: AmqpNames,
    private readonly service: string,
  ) {
    this.jobs = new JobsRepository(db);
  }

  /**
   * scheduled/waiting/queued/retrying → cancelled at once (a flow job's dependants settled by
   * their rule in the same transaction); running → cancel requested and broadcast to workers.
   */
  async cancel(id: string, tenant?: string): Promise<CancelOutcome> {
    return this.db.transaction(async (m) => {
      const [cancelled] = await update(
        m,
        `UPDATE jobs SET status = 'cancelled', cancel_requested = true, finished_at = now(),
            next_attempt_at = NULL, event_seq = event_seq + 1, progress_seq = event_seq + 1
         WHERE id = $1 AND ($2::text IS NULL OR tenant = $2)
           AND status IN ('scheduled', 'waiting', 'queued', 'retrying')
         RETURNING *`,
        [id, at(tenant)],
      );
      if (cancelled) {
        const outbox = await this.outbox(m, [
          eventOutboxMessage(jobEventFromRow(this.service, 'cancelled', cancelled)),
        ]);
        outbox.push(...(await settleAndRecord(m, this.service, [cancelled])));
        return { kind: 'cancelled', row: cancelled, outbox };
      }
      const [running] = await update(
        m,
        `UPDATE jobs SET cancel_requested = true
         WHERE id = $1 AND ($2::text IS NULL OR tenant = $2) AND status = 'running'
         RETURNING *`,
        [id, at(tenant)],
      );
      if (running) {
        const outbox = await this.outbox(m, [cancelOutboxMessage(running)]);
        return { kind: 'cancel_requested', row: running, outbox };
      }
      const row = await this.find(m, id, tenant);
      return row ? { kind: 'not_cancellable', row } : { kind: 'not_found' };
    });
  }

  /**
   * failed/cancelled → queued with attempts reset (explicit retry, DLQ replay): back in the
   * backlog, for the dispatchers (notified) to release. With `deadLetteredOnly`, only jobs in the
   * DLQ qualify.
   */
  async requeue(id: string, tenant: string | undefined, deadLetteredOnly = false): Promise<RetryOutcome> {
    return this.db.transaction(async (m) => {
      const [row] = await update(
        m,
        `UPDATE jobs SET status = 'queued', attempts = 0, error = NULL, result = NULL, result_url = NULL,
            dead_lettered = false, cancel_requested = false, started_at = NULL, finished_at = NULL,
            next_attempt_at = NULL, step = NULL, progress = 0, message = NULL,
            event_seq = event_seq + 1, progress_seq = event_seq + 1, dispatched_at = NULL
         WHERE id = $1 AND ($2::text IS NULL OR tenant = $2) AND status IN ('failed', 'cancelled')
           AND (NOT $3::boolean OR dead_lettered)
           -- A flow job whose dependencies did not all complete runs again only with its flow
           -- (POST /flows/{id}/retry), which re-runs them first.
           AND NOT EXISTS (SELECT 1 FROM job_dependencies e JOIN jobs d ON d.id = e.depends_on
                           WHERE e.job_id = jobs.id AND d.status <> 'completed')
         RETURNING *`,
        [id, at(tenant), deadLetteredOnly],
      );
      if (row) {
        const outbox = await this.outbox(m, [eventOutboxMessage(queuedEventFromRow(this.service, row))]);
        await notifyDispatchIn(m, [row.queue]);
        return { kind: 'queued', row, outbox };
      }
      const existing = await this.find(m, id, tenant);
      if (!existing || (deadLetteredOnly && !existing.dead_lettered)) return { kind: 'not_found' };
      return { kind: 'not_retryable', row: existing };
    });
  }

  /** Dead-lettered job ids matching a filter, oldest failure first (for bulk replay). */
  async deadLetteredIds(filter: DeadLetterFilter): Promise<string[]> {
    return this.idsOf(DEAD_LETTERED_MATCHING, filter);
  }

  /** Dead-lettered jobs counted by type and last error code, largest group first (the console's groups). */
  async deadLetteredGroups(
    tenant: string | undefined,
    limit: number,
  ): Promise<{ type: string; errorCode: string | null; count: number; lastFailedAt: Date | null }[]> {
    const rows: { type: string; code: string | null; n: number; last: Date | null }[] = await this.db.query(
      `SELECT type, error->>'code' AS code, count(*)::int AS n, max(finished_at) AS last FROM jobs
       WHERE dead_lettered AND status = 'failed' AND ($1::text IS NULL OR tenant = $1)
       GROUP BY type, error->>'code' ORDER BY n DESC, type, code LIMIT $2`,
      [at(tenant), limit],
    );
    return rows.map((r) => ({ type: r.type, errorCode: r.code, count: r.n, lastFailedAt: r.last }));
  }

  /** Deletes up to `limit` dead-lettered jobs matching a filter (oldest failure first); their ids. */
  async discardDeadLetteredMatching(filter: DeadLetterFilter): Promise<string[]> {
    const { rows } = await this.db.transaction((m) =>
      deleteJobsWithHistory(
        m,
        `DELETE FROM jobs WHERE id IN (${DEAD_LETTERED_MATCHING}) AND dead_lettered AND status = 'failed'
         RETURNING id`,
        dlqParameters(filter),
      ),
    );
    return rows.map((r) => r.id);
  }

  /** The ids a statement over DEAD_LETTERED_MATCHING's parameters returns. */
  private async idsOf(sql: string, filter: DeadLetterFilter): Promise<string[]> {
    const rows: { id: string }[] = await this.db.query(sql, dlqParameters(filter));
    return rows.map((r) => r.id);
  }

  /** Deletes a dead-lettered job and its history; false when there is none. */
  async discardDeadLettered(id: string, tenant?: string): Promise<boolean> {
    const { rows } = await this.db.transaction((m) =>
      deleteJobsWithHistory(
        m,
        `DELETE FROM jobs WHERE id = $1 AND ($2::text IS NULL OR tenant = $2) AND dead_lettered AND status = 'failed'
         RETURNING id`,
        [id, at(tenant)],
      ),
    );
    return rows.length > 0;
  }

  /**
   * Worker: running → retrying with the next attempt's time and the last error. A `deferred`
   * retry (the dependency was unavailable) gives the attempt back.
   */
  async scheduleRetry(
    id: string,
    owner: string,
    error: JobError,
    delayMs: number,
    last: LastReport,
    deferred = false,
    /** The failed attempt's span (tracing on): the next attempt links to it. */
    attemptTraceparent: string | null = null,
  ): Promise<(JobRow & EventTime) | null> {
    const [row] = await this.db.query<(JobRow & EventTime)[]>(
      updateWithHistory(
        'retrying',
        `UPDATE jobs SET status = 'retrying', next_attempt_at = now() + make_interval(secs => $4::double precision / 1000),
            error = $3::jsonb, lease_owner = NULL, lease_expires_at = NULL,
            attempt_traceparent = COALESCE($9::text, attempt_traceparent),
            attempts = CASE WHEN $8::boolean THEN greatest(attempts - 1, 0) ELSE attempts END,
            step = $5, progress = $6, message = $7, event_seq = event_seq + 1, progress_seq = event_seq + 1
         WHERE id = $1 AND status = 'running' AND lease_owner = $2`,
      ),
      [
        id,
        owner,
        JSON.stringify(error),
        delayMs,
        last.step,
        last.progress,
        last.message,
        deferred,
        attemptTraceparent,
      ],
    );
    return row ?? null;
  }

  /**
   * Worker: running → cancelled once the handler stopped (or was abandoned); a flow job's
   * dependants are settled in the same transaction (`outbox`: their events).
   */
  async finishCancelled(
    id: string,
    owner: string,
    last: LastReport,
  ): Promise<{ row: JobRow & EventTime; outbox: OutboxRecord[] } | null> {
    return finishSettling(this.db, this.service, async (m) => {
      const [row] = await m.query<(JobRow & EventTime)[]>(
        updateWithHistory(
          'cancelled',
          `UPDATE jobs SET status = 'cancelled', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL,
              step = $3, progress = $4, message = $5, event_seq = event_seq + 1, progress_seq = event_seq + 1
           WHERE id = $1 AND status = 'running' AND lease_owner = $2`,
        ),
        [id, owner, last.step, last.progress, last.message],
      );
      return row;
    });
  }

  /** Worker: which of its running jobs have a cancel request (fallback when a broadcast was missed). */
  async cancelRequested(ids: string[]): Promise<string[]> {
    if (!ids.length) return [];
    const rows: { id: string }[] = await this.db.query(
      `SELECT id FROM jobs WHERE id = ANY($1::uuid[]) AND status = 'running' AND cancel_requested`,
      [ids],
    );
    return rows.map((r) => r.id);
  }

  /**
   * Sweeper: a running job whose lease expired lost its worker. It goes back to `queued` (the
   * attempt counts; in the backlog, its queue's dispatchers notified), or ends `failed` with `worker_lost` once its attempts are spent, or
   * `cancelled` when a cancel was requested. SKIP LOCKED lets several trackers sweep at once.
   */
  recoverExpiredLeases(limit = 500): Promise<SweptRows> {
    return this.updateWithOutbox(
      `WITH lost AS (
           SELECT id FROM jobs WHERE status = 'running' AND lease_expires_at < now()
           ORDER BY lease_expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
         )
         UPDATE jobs j SET
           status = CASE WHEN j.cancel_requested THEN 'cancelled'
                         WHEN j.attempts >= j.max_attempts THEN 'failed' ELSE 'queued' END,
           error = CASE WHEN j.cancel_requested THEN j.error
                        ELSE jsonb_build_object('code', 'worker_lost', 'message',
                          'the worker running this job stopped renewing its lease', 'retryable', true) END,
           dead_lettered = (NOT j.cancel_requested AND j.attempts >= j.max_attempts),
           finished_at = CASE WHEN j.cancel_requested OR j.attempts >= j.max_attempts THEN now() ELSE NULL END,
           lease_owner = NULL, lease_expires_at = NULL, event_seq = j.event_seq + 1,
           progress_seq = j.event_seq + 1, dispatched_at = NULL
         FROM lost WHERE j.id = lost.id
         RETURNING j.*`,
      [limit],
      (row) => {
        if (row.status === 'queued') return [eventOutboxMessage(queuedEventFromRow(this.service, row))];
        const event = row.status === 'cancelled' ? 'cancelled' : 'failed';
        return [eventOutboxMessage(jobEventFromRow(this.service, event, row))];
      },
      (rows) => rows.filter((r) => r.status === 'queued').map((r) => r.queue),
    );
  }

  /**
   * Sweeper: a `retrying` job whose delayed message never came back (its worker died between
   * the update and the publish) is dispatched again.
   */
  redispatchOverdueRetries(graceMs: number, limit = 500): Promise<SweptRows> {
    return this.updateWithOutbox(
      `WITH overdue AS (
           SELECT id FROM jobs WHERE status = 'retrying'
             AND next_attempt_at < now() - make_interval(secs => $1::double precision / 1000)
           ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED
         )
         UPDATE jobs j SET next_attempt_at = now() FROM overdue WHERE j.id = overdue.id
         RETURNING j.*`,
      [graceMs, limit],
      (row) => [dispatchOutboxMessage(row)],
    );
  }

  /**
   * Runs one update in a transaction with the outbox messages `messagesOf` builds for each row it
   * returned, and notifies the dispatchers of the queues `backlogOf` names (rows now in the backlog).
   */
  private updateWithOutbox(
    sql: string,
    params: unknown[],
    messagesOf: (row: JobRow) => OutboxMessage[],
    backlogOf: (rows: JobRow[]) => string[] = () => [],
  ): Promise<SweptRows> {
    return this.db.transaction(async (m) => {
      const rows = await update(m, sql, params);
      const outbox = await this.outbox(m, rows.flatMap(messagesOf));
      await notifyDispatchIn(m, backlogOf(rows));
      // Jobs the sweep ended (worker_lost, cancelled) settle their flow dependants now.
      outbox.push(...(await settleAndRecord(m, this.service, rows)));
      return { rows, outbox };
    });
  }

  private async outbox(m: EntityManager, messages: OutboxMessage[]): Promise<OutboxRecord[]> {
    const ids = await this.jobs.insertOutbox(messages, m);
    return messages.map((message, i) => ({ ...message, id: ids[i] }));
  }

  private async find(m: EntityManager, id: string, tenant?: string): Promise<JobRow | null> {
    const rows: JobRow[] = await m.query(
      `SELECT * FROM jobs WHERE id = $1 AND ($2::text IS NULL OR tenant = $2)`,
      [id, at(tenant)],
    );
    return rows[0] ?? null;
  }
}

async function update(m: EntityManager, sql: string, params: unknown[]): Promise<JobRow[]> {
  const [rows] = await m.query<[JobRow[], number]>(sql, params);
  return rows;
}

/** The rows a sweep changed and the outbox messages committed with them. */
export interface SweptRows {
  rows: JobRow[];
  outbox: OutboxRecord[];
}
