import type { DataSource } from 'typeorm';
import { isUuid, type JobEventData } from '@switchyard/contracts';
import { isDeadlock, translateError } from './errors';

/** One lifecycle event as the progress-tracker projects it (the shape of live-state's JobEventInput). */
export interface ProjectedEvent {
  /** Event name, e.g. `progress`. */
  event: string;
  data: JobEventData;
  /** The event's `time` (RFC 3339), stored as the history row's `created_at`. */
  time: string;
  correlationId: string;
}

/**
 * History rows and latest-wins progress in ONE statement, so a batch costs one round trip and one
 * commit.
 *
 * The update (`progressed`) runs first (the insert reads its result). Its `progress_seq < seq` is
 * re-checked on the newest row version when another transaction changed it meanwhile (READ
 * COMMITTED), so concurrent projectors and the worker's `finish` still resolve latest-wins.
 * `latest` marks one row per job (its highest seq in the batch): UPDATE … FROM must not join a
 * job row twice, or one of the joined rows would win arbitrarily. The rows are locked in id order
 * first, as the worker's grouped statements lock theirs (see jobs.repository.ts), so the two never
 * wait on each other in a cycle; only rows the event is newer for are updated (a late report of a
 * job whose completion already wrote a higher progress_seq leaves the row's version as it is).
 *
 * The history insert writes rows only for jobs that still exist, and it holds a lock on each of
 * those job rows to know it: the rows the update changed are locked by it, the others it locks
 * FOR KEY SHARE (in id order). A job deleted meanwhile (retention, a discarded dead letter) is
 * re-checked on its newest version and skipped, and a deletion that comes later waits for this
 * statement and then deletes the history it wrote (deleteJobsWithHistory), so no history row
 * outlives its job. KEY SHARE does not conflict with FOR NO KEY UPDATE, so it never makes a claim,
 * a completion or another projector wait. (A row this statement updated cannot be locked again by
 * it: PostgreSQL skips rows the same command changed; hence the two sets.)
 *
 * The progress-tracker sends only the events whose producers did not write their own history
 * (`progress`; see HISTORY_WRITTEN_BY_PRODUCER); the statement itself takes any event.
 */
const PROJECT_SQL = `
WITH u AS MATERIALIZED (
  SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::real[], $7::text[],
      $8::int[], $9::jsonb[], $10::text[], $11::timestamptz[], $12::bool[])
    AS u(job_id, seq, event, status, step, progress, message, attempt, error, correlation_id, created_at, latest)
),
progressed AS (
  UPDATE jobs j SET step = u.step, progress = u.progress, message = u.message, progress_seq = u.seq
  FROM u
  WHERE u.latest AND j.id = u.job_id AND j.progress_seq < u.seq
    AND j.id IN (SELECT jobs.id FROM jobs JOIN u ON u.job_id = jobs.id AND u.latest
                 WHERE jobs.progress_seq < u.seq ORDER BY jobs.id FOR NO KEY UPDATE OF jobs)
  RETURNING j.id
),
kept AS MATERIALIZED (
  SELECT jobs.id FROM jobs
  WHERE jobs.id IN (SELECT job_id FROM u) AND jobs.id NOT IN (SELECT id FROM progressed)
  ORDER BY jobs.id FOR KEY SHARE OF jobs
)
INSERT INTO job_events (job_id, seq, event, status, step, progress, message, attempt, error, correlation_id, created_at)
SELECT u.job_id, u.seq, u.event, u.status, u.step, u.progress, u.message, u.attempt, u.error, u.correlation_id,
    u.created_at
FROM u
WHERE u.job_id IN (SELECT id FROM progressed) OR u.job_id IN (SELECT id FROM kept)
ON CONFLICT (job_id, seq) DO NOTHING`;

/** The progress-tracker's writes to PostgreSQL. */
export class ProjectionRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * Records a batch of events (any jobs, any order, repeats allowed): one history row per
   * (job, seq) — repeats and events of purged jobs are skipped — and each job's step, progress
   * and message from its newest event when that is newer than the last one written. Safe to
   * retry: a repeated batch changes nothing. Throws DataRejected when PostgreSQL refuses an
   * event's data (e.g. U+0000 in text).
   */
  async projectEvents(events: readonly ProjectedEvent[]): Promise<void> {
    if (!events.length) return;
    // Sorted by (job, seq): repeats become neighbours, each job's newest event is the last of its
    // run, and concurrent projectors lock job rows in the same order (no deadlock between them).
    const order = events.map((_, i) => i);
    order.sort((a, b) => {
      const x = events[a].data;
      const y = events[b].data;
      return x.jobId < y.jobId ? -1 : x.jobId > y.jobId ? 1 : x.seq - y.seq;
    });
    const jobId: string[] = [];
    const seq: number[] = [];
    const name: string[] = [];
    const status: string[] = [];
    const step: (string | null)[] = [];
    const progress: number[] = [];
    const message: (string | null)[] = [];
    const attempt: number[] = [];
    const error: (string | null)[] = [];
    const correlationId: string[] = [];
    const time: string[] = [];
    const latest: boolean[] = [];
    for (const i of order) {
      const e = events[i];
      const d = e.data;
      const last = jobId.length - 1;
      if (last >= 0 && jobId[last] === d.jobId) {
        if (seq[last] === d.seq) continue;
        latest[last] = false;
      }
      jobId.push(d.jobId);
      seq.push(d.seq);
      name.push(e.event);
      status.push(d.status);
      step.push(d.step ?? null);
      progress.push(d.progress);
      message.push(d.message ?? null);
      attempt.push(d.attempt);
      error.push(d.error ? JSON.stringify(d.error) : null);
      correlationId.push(e.correlationId);
      time.push(e.time);
      latest.push(true);
    }
    const params = [
      jobId,
      seq,
      name,
      status,
      step,
      progress,
      message,
      attempt,
      error,
      correlationId,
      time,
      latest,
    ];
    // The batch's row locks can meet a worker's grouped claim or completion in another order;
    // PostgreSQL then rolls one statement back (deadlock_detected). This one is safe to run again.
    for (let round = 1; ; round++) {
      try {
        await this.db.query(PROJECT_SQL, params);
        return;
      } catch (err) {
        if (round >= DEADLOCK_ATTEMPTS || !isDeadlock(err)) throw translateError(err);
      }
    }
  }

  /**
   * Keeps an event the tracker could not write after `attempts` tries, so the rest of its batch
   * goes on. The event is stored as JSON text: JSON escapes U+0000, which a text or jsonb value
   * could not hold raw.
   */
  async park(event: ProjectedEvent, error: string, attempts: number): Promise<void> {
    const jobId = typeof event.data?.jobId === 'string' && isUuid(event.data.jobId) ? event.data.jobId : null;
    const seq = Number.isSafeInteger(event.data?.seq) ? event.data.seq : null;
    await this.db.query(
      `INSERT INTO parked_events (job_id, seq, event, body, error, attempts) VALUES ($1, $2, $3, $4, $5, $6)`,
      [jobId, seq, withoutNul(String(event.event)), JSON.stringify(event), withoutNul(error), attempts],
    );
  }

  /** The parked events, oldest first (for operators and tests). */
  async parked(limit = 100): Promise<ParkedEventRow[]> {
    return this.db.query(`SELECT * FROM parked_events ORDER BY id LIMIT $1`, [limit]);
  }
}

const DEADLOCK_ATTEMPTS = 3;

/** One row of `parked_events` (docs/operations.md). */
export interface ParkedEventRow {
  id: string;
  job_id: string | null;
  seq: string | null;
  event: string;
  body: string;
  error: string;
  attempts: number;
  parked_at: Date;
}

/** PostgreSQL text cannot hold U+0000: it is written as the six characters `\\u0000`. */
const withoutNul = (text: string) => text.replaceAll('\u0000', '\\u0000');
