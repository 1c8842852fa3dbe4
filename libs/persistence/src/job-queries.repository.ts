import type { DataSource } from 'typeorm';
import type { JobStatus } from '@switchyard/contracts';
import type { JobRow } from './job-row';

/** Where a queue's jobs are (`GET /queues`, queue_full, the metrics service). */
export interface QueueLevels {
  /** queued in PostgreSQL, not released to RabbitMQ yet. */
  backlog: number;
  /** released to RabbitMQ and not claimed yet. */
  released: number;
  scheduled: number;
  running: number;
  /** The oldest queued job's creation time (backlog or released); null without one. */
  oldestQueuedAt: Date | null;
  /** Queued jobs (backlog or released) per priority, index 0–9. */
  queuedByPriority: number[];
}

/** The priority levels of a job (0–9), the length of QueueLevels.queuedByPriority. */
const PRIORITY_LEVELS = 10;

export interface JobStats {
  byStatus: Record<string, number>;
  byType: Record<string, Record<string, number>>;
  completedLastMinute: number;
  completedLast5Minutes: number;
  failedLast5Minutes: number;
  submittedLastMinute: number;
  /** Run time (started → finished) of jobs completed in the last hour, in ms; null without data. */
  durationMs: { p50: number | null; p90: number | null; p99: number | null; count: number };
}

const tenantParam = (tenant: string | undefined) => tenant ?? null;

/**
 * Read-side queries on `jobs` for the gateway's API (quotas, idempotency, dedup, wait estimates,
 * /queues and /stats) and the admin cleanup. Writes of the job state machine are elsewhere.
 */
export class JobQueriesRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * queued + running + retrying jobs per tenant, in one statement (tenants with none are 0), each
   * counted up to `cap` only: a quota check needs to know whether the count reaches the cap, not
   * how far beyond it a backlog goes.
   */
  activeCounts(tenants: readonly string[], cap: number): Promise<Map<string, number>> {
    return this.countsPerTenant(tenants, ['queued', 'running', 'retrying'], cap);
  }

  /**
   * `scheduled` jobs per tenant (TENANT_MAX_SCHEDULED_JOBS), counted like activeCounts: each up
   * to `cap` only.
   */
  scheduledCounts(tenants: readonly string[], cap: number): Promise<Map<string, number>> {
    return this.countsPerTenant(tenants, ['scheduled'], cap);
  }

  /** Jobs in `statuses` per tenant, in one statement, each counted up to `cap` only. */
  private async countsPerTenant(
    tenants: readonly string[],
    statuses: readonly JobStatus[],
    cap: number,
  ): Promise<Map<string, number>> {
    if (!tenants.length) return new Map();
    const rows: { tenant: string; n: string }[] = await this.db.query(
      `SELECT t.tenant, (SELECT count(*) FROM (
           SELECT 1 FROM jobs WHERE tenant = t.tenant AND status = ANY($3::text[]) LIMIT $2
         ) counted) AS n
       FROM unnest($1::text[]) AS t(tenant)`,
      [tenants, cap, statuses],
    );
    return new Map(rows.map((r) => [r.tenant, Number(r.n)]));
  }

  async findByIdempotencyKey(tenant: string, key: string): Promise<JobRow | null> {
    const rows: JobRow[] = await this.db.query(
      `SELECT * FROM jobs WHERE tenant = $1 AND idempotency_key = $2`,
      [tenant, key],
    );
    return rows[0] ?? null;
  }

  async findByIdempotencyKeys(tenant: string, keys: readonly string[]): Promise<JobRow[]> {
    if (!keys.length) return [];
    return this.db.query(`SELECT * FROM jobs WHERE tenant = $1 AND idempotency_key = ANY($2::text[])`, [
      tenant,
      keys,
    ]);
  }

  /**
   * Releases an idempotency key held by a job older than its TTL, so the key can name a new
   * request (the old job keeps everything else). Returns whether a key was released.
   */
  async releaseExpiredIdempotencyKey(tenant: string, key: string, ttlSeconds: number): Promise<boolean> {
    const [rows]: [{ id: string }[], number] = await this.db.query(
      `UPDATE jobs SET idempotency_key = NULL
       WHERE tenant = $1 AND idempotency_key = $2 AND created_at < now() - make_interval(secs => $3)
       RETURNING id`,
      [tenant, key, ttlSeconds],
    );
    return rows.length > 0;
  }

  /** The newest job of the same request (type + payload hash) accepted within `windowMs`. */
  async findRecentByRequestHash(
    tenant: string,
    requestHash: string,
    windowMs: number,
  ): Promise<JobRow | null> {
    const rows: JobRow[] = await this.db.query(
      `SELECT * FROM jobs
       WHERE tenant = $1 AND request_hash = $2 AND request_hash <> ''
         AND created_at > now() - make_interval(secs => $3::double precision / 1000)
       ORDER BY created_at DESC LIMIT 1`,
      [tenant, requestHash, windowMs],
    );
    return rows[0] ?? null;
  }

  async findManyByIds(ids: readonly string[], tenant?: string): Promise<JobRow[]> {
    if (!ids.length) return [];
    return this.db.query(
      `SELECT * FROM jobs WHERE id = ANY($1::uuid[]) AND ($2::text IS NULL OR tenant = $2)`,
      [ids, tenantParam(tenant)],
    );
  }

  /**
   * Backlog, released, scheduled and running jobs of each queue (every queue asked for is in the
   * map), with the queued jobs per priority and the oldest queued one. One statement: the queued
   * jobs are counted per (queue, priority) through the partial indexes of each part of the backlog
   * and of the released jobs (index-only where the visibility map allows), so the counts, the
   * per-priority buckets and the oldest come from one pass over them; scheduled and running jobs
   * through their own partial indexes.
   */
  async queueLevels(queues: readonly string[]): Promise<Map<string, QueueLevels>> {
    if (!queues.length) return new Map();
    const rows: {
      queue: string;
      part: 'backlog' | 'released' | 'scheduled' | 'running';
      priority: number | null;
      n: string;
      oldest: Date | null;
    }[] = await this.db.query(
      `SELECT queue, CASE WHEN released THEN 'released' ELSE 'backlog' END AS part, priority,
              count(*) AS n, min(created_at) AS oldest
       FROM (
         SELECT queue, priority, created_at, false AS released FROM jobs
         WHERE queue = ANY($1::text[]) AND status = 'queued' AND dispatched_at IS NULL
           AND concurrency_key IS NULL AND rate_key IS NULL
         UNION ALL
         SELECT queue, priority, created_at, false FROM jobs
         WHERE queue = ANY($1::text[]) AND status = 'queued' AND dispatched_at IS NULL
           AND concurrency_key IS NULL AND rate_key IS NOT NULL
         UNION ALL
         SELECT queue, priority, created_at, false FROM jobs
         WHERE queue = ANY($1::text[]) AND status = 'queued' AND dispatched_at IS NULL
           AND concurrency_key IS NOT NULL
         UNION ALL
         SELECT queue, priority, created_at, true FROM jobs
         WHERE queue = ANY($1::text[]) AND status = 'queued' AND dispatched_at IS NOT NULL
       ) queued
       GROUP BY queue, released, priority
       UNION ALL
       SELECT q.queue, 'scheduled', NULL,
              (SELECT count(*) FROM jobs j WHERE j.queue = q.queue AND j.status = 'scheduled'), NULL
       FROM unnest($1::text[]) AS q(queue)
       UNION ALL
       SELECT q.queue, 'running', NULL,
              (SELECT count(*) FROM jobs j WHERE j.queue = q.queue AND j.status = 'running'), NULL
       FROM unnest($1::text[]) AS q(queue)`,
      [queues],
    );
    const levels = new Map<string, QueueLevels>(
      queues.map((queue) => [
        queue,
        {
          backlog: 0,
          released: 0,
          scheduled: 0,
          running: 0,
          oldestQueuedAt: null,
          queuedByPriority: Array<number>(PRIORITY_LEVELS).fill(0),
        },
      ]),
    );
    for (const row of rows) {
      const level = levels.get(row.queue);
      if (!level) continue;
      const n = Number(row.n);
      level[row.part] += n;
      if (row.priority !== null && row.priority >= 0 && row.priority < PRIORITY_LEVELS) {
        level.queuedByPriority[row.priority] = (level.queuedByPriority[row.priority] ?? 0) + n;
      }
      if (row.oldest && (!level.oldestQueuedAt || row.oldest < level.oldestQueuedAt)) {
        level.oldestQueuedAt = row.oldest;
      }
    }
    return levels;
  }

  /** Queued jobs of `queue` that start before this one: higher priority, or equal and older. */
  async queuedAhead(job: Pick<JobRow, 'id' | 'queue' | 'priority' | 'created_at'>): Promise<number> {
    const rows: { n: string }[] = await this.db.query(
      // Backlog and released jobs counted through their own partial indexes.
      `SELECT (SELECT count(*) FROM jobs
                WHERE status = 'queued' AND dispatched_at IS NULL AND concurrency_key IS NULL AND rate_key IS NULL
                  AND queue = $1 AND (priority > $2 OR (priority = $2 AND (created_at, id) < ($3, $4::uuid))))
            + (SELECT count(*) FROM jobs
                WHERE status = 'queued' AND dispatched_at IS NULL AND concurrency_key IS NULL AND rate_key IS NOT NULL
                  AND queue = $1 AND (priority > $2 OR (priority = $2 AND (created_at, id) < ($3, $4::uuid))))
            + (SELECT count(*) FROM jobs
                WHERE status = 'queued' AND dispatched_at IS NULL AND concurrency_key IS NOT NULL AND queue = $1
                  AND (priority > $2 OR (priority = $2 AND (created_at, id) < ($3, $4::uuid))))
            + (SELECT count(*) FROM jobs
                WHERE status = 'queued' AND dispatched_at IS NOT NULL AND queue = $1
                  AND (priority > $2 OR (priority = $2 AND (created_at, id) < ($3, $4::uuid)))) AS n`,
      [job.queue, job.priority, job.created_at, job.id],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** Counts by status and type, recent throughput and run-time percentiles (SPEC §4 /stats). */
  async stats(tenant?: string): Promise<JobStats> {
    const t = tenantParam(tenant);
    const [counts, recent, durations] = await Promise.all([
      this.db.query<{ status: JobStatus; type: string; n: string }[]>(
        `SELECT status, type, count(*) AS n FROM jobs WHERE ($1::text IS NULL OR tenant = $1) GROUP BY status, type`,
        [t],
      ),
      this.db.query<{ c1: string; c5: string; f5: string }[]>(
        `SELECT
           count(*) FILTER (WHERE status = 'completed' AND finished_at > now() - interval '1 minute') AS c1,
           count(*) FILTER (WHERE status = 'completed') AS c5,
           count(*) FILTER (WHERE status = 'failed') AS f5
         FROM jobs WHERE ($1::text IS NULL OR tenant = $1) AND finished_at > now() - interval '5 minutes'`,
        [t],
      ),
      this.db.query<{ p50: number | null; p90: number | null; p99: number | null; n: string }[]>(
        `SELECT
           percentile_cont(0.5) WITHIN GROUP (ORDER BY d) AS p50,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY d) AS p90,
           percentile_cont(0.99) WITHIN GROUP (ORDER BY d) AS p99,
           count(*) AS n
         FROM (
           SELECT extract(epoch FROM finished_at - started_at) * 1000 AS d FROM jobs
           WHERE ($1::text IS NULL OR tenant = $1) AND status = 'completed' AND started_at IS NOT NULL
             AND finished_at > now() - interval '1 hour'
         ) runs`,
        [t],
      ),
    ]);
    const submitted: { n: string }[] = await this.db.query(
      `SELECT count(*) AS n FROM jobs WHERE ($1::text IS NULL OR tenant = $1) AND created_at > now() - interval '1 minute'`,
      [t],
    );
    const byStatus: Record<string, number> = {};
    const byType: Record<string, Record<string, number>> = {};
    for (const row of counts) {
      const n = Number(row.n);
      byStatus[row.status] = (byStatus[row.status] ?? 0) + n;
      const type = (byType[row.type] ??= {});
      type[row.status] = n;
    }
    const round = (v: number | null) => (v === null ? null : Math.round(Number(v)));
    const d = durations[0];
    return {
      byStatus,
      byType,
      completedLastMinute: Number(recent[0]?.c1 ?? 0),
      completedLast5Minutes: Number(recent[0]?.c5 ?? 0),
      failedLast5Minutes: Number(recent[0]?.f5 ?? 0),
      submittedLastMinute: Number(submitted[0]?.n ?? 0),
      durationMs: {
        p50: round(d?.p50 ?? null),
        p90: round(d?.p90 ?? null),
        p99: round(d?.p99 ?? null),
        count: Number(d?.n ?? 0),
      },
    };
  }
}
