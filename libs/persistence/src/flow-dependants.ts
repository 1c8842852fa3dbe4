import type { DataSource, EntityManager } from 'typeorm';
import type { JobEventName } from '@switchyard/contracts';
import type { JobRow } from './job-row';
import {
  eventOutboxMessage,
  jobEventFromRow,
  queuedEventFromRow,
  type OutboxMessage,
  type OutboxRecord,
} from './job-messages';
import { notifyDispatchIn, recordOutbox } from './outbox-rows';

/** A job that just reached a terminal state: `ok` when it completed. */
export interface FinishedUpstream {
  id: string;
  ok: boolean;
}

/** What settling a set of finished jobs changed downstream, to commit in the same transaction. */
export interface SettledDependants {
  /** Dependants that changed state (queued, failed, cancelled). */
  rows: JobRow[];
  /** Their lifecycle events. */
  messages: OutboxMessage[];
  /** Queues that gained backlog (to notify their dispatchers). */
  queues: string[];
}

/**
 * One level of settlement. Each edge from a finished job is marked resolved once; a `waiting`
 * dependant loses one pending dependency per newly resolved edge of a completed job (and of a
 * failed one under `run`), so concurrent completions of its dependencies — serialised by the row
 * lock, each decrement applied to the latest row — leave exactly one of them queueing it. A failed
 * or cancelled dependency fails it (`fail`, with `dependency_failed`, dead-lettered) or cancels it
 * (`skip`). Dependants are locked in id order first, so concurrent settlements never deadlock.
 */
const SETTLE = `WITH src AS (
    SELECT * FROM unnest($1::uuid[], $2::boolean[]) AS s(id, ok)
  ), edges AS (
    UPDATE job_dependencies e SET resolved = true FROM src
    WHERE e.depends_on = src.id AND NOT e.resolved
    RETURNING e.job_id, src.ok
  ), hits AS (
    SELECT job_id, count(*) FILTER (WHERE ok) AS ok_n, count(*) FILTER (WHERE NOT ok) AS bad_n
    FROM edges GROUP BY job_id
  ), locked AS (
    SELECT id FROM jobs WHERE id IN (SELECT job_id FROM hits) AND status = 'waiting'
    ORDER BY id FOR NO KEY UPDATE
  ), decided AS (
    SELECT h.job_id,
      CASE WHEN h.bad_n > 0 AND w.on_dependency_failure = 'fail' THEN 'failed'
           WHEN h.bad_n > 0 AND w.on_dependency_failure = 'skip' THEN 'cancelled'
           WHEN w.pending_deps - h.ok_n - CASE WHEN w.on_dependency_failure = 'run' THEN h.bad_n ELSE 0 END <= 0
             THEN 'queued'
           ELSE 'waiting' END AS next,
      h.ok_n + CASE WHEN w.on_dependency_failure = 'run' THEN h.bad_n ELSE 0 END AS resolved_n
    FROM hits h JOIN jobs w ON w.id = h.job_id
  )
  UPDATE jobs w SET
    -- Recomputed from the row being updated (the latest version once the lock is held).
    pending_deps = greatest(0, w.pending_deps - d.resolved_n),
    status = CASE WHEN d.next IN ('failed', 'cancelled') THEN d.next
                  WHEN w.pending_deps - d.resolved_n <= 0 THEN 'queued' ELSE 'waiting' END,
    error = CASE WHEN d.next IN ('failed', 'cancelled') THEN jsonb_build_object('code', 'dependency_failed',
                   'message', 'a job this one depends on failed or was cancelled', 'retryable', false)
                 ELSE w.error END,
    dead_lettered = (d.next = 'failed'),
    cancel_requested = w.cancel_requested OR d.next = 'cancelled',
    finished_at = CASE WHEN d.next IN ('failed', 'cancelled') THEN now() ELSE w.finished_at END,
    dispatched_at = NULL,
    event_seq = CASE WHEN d.next IN ('failed', 'cancelled') OR w.pending_deps - d.resolved_n <= 0
                     THEN w.event_seq + 1 ELSE w.event_seq END,
    progress_seq = CASE WHEN d.next IN ('failed', 'cancelled') OR w.pending_deps - d.resolved_n <= 0
                        THEN w.event_seq + 1 ELSE w.progress_seq END
  FROM decided d
  WHERE w.id = d.job_id AND w.id IN (SELECT id FROM locked) AND w.status = 'waiting'
  RETURNING w.*`;

/** At most this many levels of transitive failure are followed in one transaction. */
const MAX_LEVELS = 10000;

/**
 * Settles the dependants of jobs that just finished, inside the caller's transaction (the one of
 * the terminal transition, so no dependant is ever left waiting for a dependency that already
 * finished): ready ones become `queued` (with their `job.queued` event, in the backlog), and
 * failures propagate transitively by each dependant's rule. Returns what changed, for the caller
 * to write to the outbox and notify.
 */
export async function settleDependants(
  m: EntityManager,
  service: string,
  finished: readonly FinishedUpstream[],
): Promise<SettledDependants> {
  const out: SettledDependants = { rows: [], messages: [], queues: [] };
  let level = [...finished];
  for (let depth = 0; level.length && depth < MAX_LEVELS; depth++) {
    const [rows] = await m.query<[JobRow[], number]>(SETTLE, [
      level.map((f) => f.id),
      level.map((f) => f.ok),
    ]);
    const next: FinishedUpstream[] = [];
    for (const row of rows) {
      if (row.status === 'waiting') continue;
      out.rows.push(row);
      const event: JobEventName = row.status as 'queued' | 'failed' | 'cancelled';
      out.messages.push(
        eventOutboxMessage(
          event === 'queued' ? queuedEventFromRow(service, row) : jobEventFromRow(service, event, row),
        ),
      );
      if (row.status === 'queued') out.queues.push(row.queue);
      else next.push({ id: row.id, ok: false });
    }
    level = next;
  }
  out.queues = [...new Set(out.queues)];
  return out;
}

/** The finished jobs among `rows` that can have dependants (flow jobs), as settleDependants takes them. */
export function finishedFlowJobs(
  rows: readonly Pick<JobRow, 'id' | 'status' | 'flow_id'>[],
): FinishedUpstream[] {
  return rows
    .filter(
      (r) => r.flow_id && (r.status === 'completed' || r.status === 'failed' || r.status === 'cancelled'),
    )
    .map((r) => ({ id: r.id, ok: r.status === 'completed' }));
}

/**
 * settleDependants for the finished flow jobs among `rows`, with the dependants' events written to
 * the outbox and their queues' dispatchers notified, all in the caller's transaction. Returns the
 * outbox records to publish after the commit (none, without a query, when no row is a flow job).
 */
export async function settleAndRecord(
  m: EntityManager,
  service: string,
  rows: readonly Pick<JobRow, 'id' | 'status' | 'flow_id'>[],
): Promise<OutboxRecord[]> {
  const finished = finishedFlowJobs(rows);
  if (!finished.length) return [];
  const settled = await settleDependants(m, service, finished);
  await notifyDispatchIn(m, settled.queues);
  return recordOutbox(m, settled.messages);
}

/**
 * Runs a terminal transition of one job (`transition` returns the updated row, or nothing when the
 * conditional update matched no row) in a transaction with the settlement of its dependants.
 */
export function finishSettling<R extends JobRow>(
  db: DataSource,
  service: string,
  transition: (m: EntityManager) => Promise<R | undefined>,
): Promise<{ row: R; outbox: OutboxRecord[] } | null> {
  return db.transaction(async (m) => {
    const row = await transition(m);
    return row ? { row, outbox: await settleAndRecord(m, service, [row]) } : null;
  });
}
