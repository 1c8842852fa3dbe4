import type { DataSource } from 'typeorm';
import type { JobLogLine, LogLevel } from '@switchyard/contracts';
import { poolOf } from './pool';

/** A line to store: a `JobLogLine` of one job. */
export interface NewJobLogLine {
  jobId: string;
  attempt: number;
  level: LogLevel;
  message: string;
  fields: Record<string, unknown> | null;
  at: Date;
}

interface LogRow {
  id: string;
  attempt: number;
  level: LogLevel;
  message: string;
  fields: Record<string, unknown> | null;
  at: Date;
}

/** `ctx.log` lines per job and attempt; they go with their job (foreign key, ON DELETE CASCADE). */
export class JobLogsRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * Stores lines of any jobs in one statement, in the order given (ids grow with it). Lines of a
   * job that no longer exists (purged meanwhile) are left out rather than failing the batch.
   */
  async append(lines: readonly NewJobLogLine[]): Promise<void> {
    if (!lines.length) return;
    await poolOf(this.db).query({
      text: `INSERT INTO job_logs (job_id, attempt, level, message, fields, at)
        SELECT v.job_id, v.attempt, v.level, v.message, v.fields, v.at
        FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::jsonb[], $6::timestamptz[])
          WITH ORDINALITY AS v(job_id, attempt, level, message, fields, at, ord)
        WHERE EXISTS (SELECT 1 FROM jobs j WHERE j.id = v.job_id)
        ORDER BY v.ord`,
      values: [
        lines.map((l) => l.jobId),
        lines.map((l) => l.attempt),
        lines.map((l) => l.level),
        lines.map((l) => l.message),
        lines.map((l) => (l.fields === null ? null : JSON.stringify(l.fields))),
        lines.map((l) => l.at),
      ],
    });
  }

  /** Lines an attempt logged beyond its limit (counted, not kept). */
  async recordOverflow(
    entries: readonly { jobId: string; attempt: number; dropped: number }[],
  ): Promise<void> {
    if (!entries.length) return;
    await poolOf(this.db).query({
      text: `INSERT INTO job_log_overflow (job_id, attempt, dropped)
        SELECT v.job_id, v.attempt, v.dropped FROM unnest($1::uuid[], $2::int[], $3::int[]) AS v(job_id, attempt, dropped)
        WHERE EXISTS (SELECT 1 FROM jobs j WHERE j.id = v.job_id)
        ON CONFLICT (job_id, attempt) DO UPDATE SET dropped = job_log_overflow.dropped + excluded.dropped`,
      values: [entries.map((e) => e.jobId), entries.map((e) => e.attempt), entries.map((e) => e.dropped)],
    });
  }

  /** Lines after `afterId` in logged order, at most `limit`, with whether more follow. */
  async page(
    jobId: string,
    afterId: string,
    limit: number,
  ): Promise<{ lines: (JobLogLine & { id: string })[]; more: boolean }> {
    const rows: LogRow[] = await this.db.query(
      `SELECT id, attempt, level, message, fields, at FROM job_logs
       WHERE job_id = $1 AND id > $2::bigint ORDER BY id LIMIT $3`,
      [jobId, afterId, limit + 1],
    );
    return {
      lines: rows.slice(0, limit).map((r) => ({
        id: String(r.id),
        attempt: r.attempt,
        level: r.level,
        message: r.message,
        fields: r.fields,
        at: r.at.toISOString(),
      })),
      more: rows.length > limit,
    };
  }

  /** What each attempt of the job dropped, by attempt. */
  async overflow(jobId: string): Promise<{ attempt: number; lines: number }[]> {
    const rows: { attempt: number; dropped: number }[] = await this.db.query(
      `SELECT attempt, dropped FROM job_log_overflow WHERE job_id = $1 ORDER BY attempt`,
      [jobId],
    );
    return rows.map((r) => ({ attempt: r.attempt, lines: r.dropped }));
  }
}
