import type { DataSource } from 'typeorm';
import { isUuid } from '@switchyard/contracts';
import { poolOf } from './pool';

export interface JobQueueStates {
  /** Work queues with at least one queued, running or retrying job. */
  queues: QueueStateRow[];
  /** Failed jobs in the dead-letter queue. */
  deadLettered: number;
}

export interface QueueStateRow {
  queue: string;
  /** Queued jobs not released to RabbitMQ yet (the PostgreSQL backlog). */
  backlog: number;
  /** Queued jobs released to RabbitMQ and not claimed yet. */
  released: number;
  scheduled: number;
  /** Jobs in PostgreSQL with this status (only the statuses the poller reads). */
  running: number;
  retrying: number;
  /** created_at of the oldest `queued` job, or null when none is queued. */
  oldestQueuedAt: Date | null;
}

/**
 * The metrics service's read-only view of the jobs table: the priority of accepted jobs (events do
 * not carry it) and, per queue, what the broker cannot tell (oldest queued job, running, retrying).
 */
export class JobMetricsRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * The priorities of the listed jobs (ids that are not UUIDs cannot be in the table and are left
   * out, so one malformed id does not fail the lookup of the others). On the DataSource's pg Pool,
   * rows as arrays (no row object per job); unnamed, so that it is planned for the table as it is
   * (a prepared statement's generic plan made while `jobs` was nearly empty kept a sequential scan).
   */
  async priorities(jobIds: readonly string[]): Promise<Map<string, number>> {
    const ids = jobIds.filter((id) => isUuid(id));
    const found = new Map<string, number>();
    if (!ids.length) return found;
    const result = await poolOf(this.db).query<[string, number]>({
      text: 'SELECT id::text, priority FROM jobs WHERE id = ANY($1::uuid[])',
      values: [ids],
      rowMode: 'array',
    });
    for (const [id, priority] of result.rows) found.set(id, Number(priority));
    // PostgreSQL answers in lower case; an event may name its job otherwise.
    for (const id of ids) {
      if (!found.has(id)) {
        const priority = found.get(id.toLowerCase());
        if (priority !== undefined) found.set(id, priority);
      }
    }
    return found;
  }

  /**
   * Per work queue: backlog, released, scheduled, running and retrying jobs and the oldest queued
   * one; and the jobs in the DLQ (failed and dead-lettered, what GET /api/v1/dlq lists). One branch
   * per status, each matching a partial index, so the cost follows the number of active jobs
   * rather than the size of the table.
   */
  async queueStates(): Promise<JobQueueStates> {
    const rows = await this.db.query<
      { queue: string | null; status: string; n: number; oldest: Date | null }[]
    >(
      `SELECT queue, 'backlog' AS status, count(*)::int AS n, min(created_at) AS oldest
         FROM jobs WHERE status = 'queued' AND dispatched_at IS NULL AND concurrency_key IS NULL AND rate_key IS NULL GROUP BY queue
       UNION ALL
       SELECT queue, 'backlog' AS status, count(*)::int AS n, min(created_at) AS oldest
         FROM jobs WHERE status = 'queued' AND dispatched_at IS NULL AND concurrency_key IS NULL AND rate_key IS NOT NULL GROUP BY queue
       UNION ALL
       SELECT queue, 'backlog' AS status, count(*)::int AS n, min(created_at) AS oldest
         FROM jobs WHERE status = 'queued' AND dispatched_at IS NULL AND concurrency_key IS NOT NULL GROUP BY queue
       UNION ALL
       SELECT queue, 'released', count(*)::int, min(created_at)
         FROM jobs WHERE status = 'queued' AND dispatched_at IS NOT NULL GROUP BY queue
       UNION ALL
       SELECT queue, 'scheduled', count(*)::int, NULL FROM jobs WHERE status = 'scheduled' GROUP BY queue
       UNION ALL
       SELECT queue, 'running', count(*)::int, NULL FROM jobs WHERE status = 'running' GROUP BY queue
       UNION ALL
       SELECT queue, 'retrying', count(*)::int, NULL FROM jobs WHERE status = 'retrying' GROUP BY queue
       UNION ALL
       SELECT NULL, 'dead_lettered', count(*)::int, NULL FROM jobs WHERE status = 'failed' AND dead_lettered`,
    );
    const byQueue = new Map<string, QueueStateRow>();
    let deadLettered = 0;
    for (const row of rows) {
      if (row.queue === null) {
        deadLettered = Number(row.n);
        continue;
      }
      const state = byQueue.get(row.queue) ?? {
        queue: row.queue,
        backlog: 0,
        released: 0,
        scheduled: 0,
        running: 0,
        retrying: 0,
        oldestQueuedAt: null,
      };
      if (row.status === 'running') state.running = Number(row.n);
      if (row.status === 'retrying') state.retrying = Number(row.n);
      if (row.status === 'scheduled') state.scheduled = Number(row.n);
      // Three backlog rows per queue: plain, keyed and rated jobs (three partial indexes).
      if (row.status === 'backlog') state.backlog += Number(row.n);
      if (row.status === 'released') state.released = Number(row.n);
      if ((row.status === 'backlog' || row.status === 'released') && row.oldest !== null) {
        const oldest = new Date(row.oldest);
        if (state.oldestQueuedAt === null || oldest < state.oldestQueuedAt) state.oldestQueuedAt = oldest;
      }
      byQueue.set(row.queue, state);
    }
    return { queues: [...byQueue.values()], deadLettered };
  }

  /** Whether PostgreSQL answers (the health check). */
  async ping(): Promise<void> {
    await this.db.query('SELECT 1');
  }
}
