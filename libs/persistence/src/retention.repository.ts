import type { DataSource } from 'typeorm';
import { deleteJobsWithHistory } from './history-rows';

/**
 * The advisory lock that makes one process cluster-wide run retention at a time (an arbitrary
 * constant; PostgreSQL advisory lock keys are a bigint shared by the whole database).
 */
export const RETENTION_LOCK_KEY = '7302845919117263';

/** The states a job never leaves by itself (SPEC §3); `failed` includes dead-lettered jobs. */
const TERMINAL = `('completed', 'failed', 'cancelled')`;

export interface PurgedJob {
  id: string;
  hadArtifact: boolean;
}

export interface PurgedJobs {
  jobs: PurgedJob[];
  /** History rows deleted with them. */
  events: number;
}

/**
 * The progress-tracker's retention statements. Each purge takes at most `limit` rows, oldest
 * first, and skips rows another transaction holds (`FOR UPDATE SKIP LOCKED`), so a large purge
 * runs as many short statements that never wait on the hot path and never delete a row twice.
 */
export class RetentionRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * Runs `work` while this process holds the cluster-wide retention lock (a session advisory lock
   * on one pooled connection, released afterwards, or by PostgreSQL when that connection dies).
   * Returns `{ ran: false }` at once when another process holds it.
   */
  async underLock<T>(work: () => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }> {
    const runner = this.db.createQueryRunner();
    await runner.connect();
    try {
      const rows = (await runner.query(`SELECT pg_try_advisory_lock($1::bigint) AS locked`, [
        RETENTION_LOCK_KEY,
      ])) as { locked: boolean }[];
      if (!rows[0]?.locked) return { ran: false };
      try {
        return { ran: true, value: await work() };
      } finally {
        await runner.query(`SELECT pg_advisory_unlock($1::bigint)`, [RETENTION_LOCK_KEY]);
      }
    } finally {
      await runner.release();
    }
  }

  /**
   * Deletes up to `limit` terminal jobs that finished more than `retentionDays` ago, with their
   * history (and, by cascade, their result-cache entries and their `ctx.log` lines and overflow
   * counts; the usage ledger keeps what they used). A job that is not terminal (queued,
   * running, retrying, scheduled, waiting) is never taken, however old; a job retried or
   * replayed while this runs is re-checked on its newest version (FOR UPDATE) and left alone.
   */
  async purgeJobs(retentionDays: number, limit: number): Promise<PurgedJobs> {
    const { rows, events } = await this.db.transaction((m) =>
      deleteJobsWithHistory<{ id: string; result_url: string | null }>(
        m,
        `DELETE FROM jobs WHERE id IN (
           SELECT id FROM jobs
           WHERE finished_at < now() - make_interval(days => $1::int) AND status IN ${TERMINAL}
           ORDER BY finished_at
           LIMIT $2
           FOR UPDATE SKIP LOCKED
         ) RETURNING id, result_url`,
        [retentionDays, limit],
      ),
    );
    return { jobs: rows.map((r) => ({ id: r.id, hadArtifact: r.result_url !== null })), events };
  }

  /**
   * Deletes up to `limit` upload records older than `retentionDays` that no job references
   * (`payload.fileId`) and returns their ids, so their bytes can be removed.
   */
  async purgeUploads(retentionDays: number, limit: number): Promise<string[]> {
    // TypeORM answers a DELETE with [rows, count].
    const [rows]: [{ id: string }[], number] = await this.db.query(
      `DELETE FROM files WHERE id IN (
         SELECT f.id FROM files f
         WHERE f.created_at < now() - make_interval(days => $1::int)
           AND NOT EXISTS (
             SELECT 1 FROM jobs j WHERE j.payload ? 'fileId' AND j.payload->>'fileId' = f.id::text
           )
         ORDER BY f.created_at
         LIMIT $2
         FOR UPDATE SKIP LOCKED
       ) RETURNING id`,
      [retentionDays, limit],
    );
    return rows.map((r) => r.id);
  }

  /**
   * Deletes up to `limit` flows created more than `retentionDays` ago none of whose jobs is left
   * (retention purged them, or the flow never had one stored); returns how many.
   */
  async purgeFlows(retentionDays: number, limit: number): Promise<number> {
    const [rows]: [unknown[], number] = await this.db.query(
      `DELETE FROM flows WHERE id IN (
         SELECT f.id FROM flows f
         WHERE f.created_at < now() - make_interval(days => $1::int)
           AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.flow_id = f.id)
         ORDER BY f.created_at
         LIMIT $2
         FOR UPDATE SKIP LOCKED
       ) RETURNING id`,
      [retentionDays, limit],
    );
    return rows.length;
  }

  /** Deletes up to `limit` parked events parked more than `retentionDays` ago; returns how many. */
  async purgeParkedEvents(retentionDays: number, limit: number): Promise<number> {
    const [rows]: [unknown[], number] = await this.db.query(
      `DELETE FROM parked_events WHERE id IN (
         SELECT id FROM parked_events
         WHERE parked_at < now() - make_interval(days => $1::int)
         ORDER BY parked_at
         LIMIT $2
         FOR UPDATE SKIP LOCKED
       ) RETURNING id`,
      [retentionDays, limit],
    );
    return rows.length;
  }
}
