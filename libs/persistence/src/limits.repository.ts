import type { DataSource } from 'typeorm';
import { KEYED_CHANNEL, KEYED_IN_USE } from './dispatch.repository';

/** A concurrency key's limit (null: none) and its jobs in use (released, running, retrying) and waiting. */
export interface ConcurrencyLimitState {
  key: string;
  max: number | null;
  inUse: number;
  waiting: number;
}

interface StateRow {
  key: string;
  max: number | null;
  in_use: number;
  waiting: number;
}

const state = (r: StateRow): ConcurrencyLimitState => ({
  key: r.key,
  max: r.max === null ? null : Number(r.max),
  inUse: Number(r.in_use),
  waiting: Number(r.waiting),
});

/** Waiting (backlog) jobs of a key, through `jobs_keyed_backlog`'s predicate. */
const WAITING = (key: string) => `(SELECT count(*)::int FROM jobs
    WHERE status = 'queued' AND dispatched_at IS NULL AND concurrency_key IS NOT NULL AND concurrency_key = ${key})`;

/**
 * Per-key concurrency limits (`concurrency_limits`, SPEC §11), kept in PostgreSQL so every
 * gateway's dispatcher reads the same ones and they survive restarts.
 */
export class LimitsRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * Sets the limit of `key`. A raised limit wakes the dispatchers of the queues with the key's
   * backlog (KEYED_CHANNEL, delivered at commit).
   */
  async setConcurrency(key: string, max: number): Promise<ConcurrencyLimitState> {
    await this.db.transaction(async (m) => {
      await m.query(
        `INSERT INTO concurrency_limits (key, max, updated_at) VALUES ($1, $2, now())
         ON CONFLICT (key) DO UPDATE SET max = EXCLUDED.max, updated_at = now()`,
        [key, max],
      );
      await this.notifyQueuesOf(m.query.bind(m), key);
    });
    return this.concurrency(key);
  }

  /** Removes the limit of `key` (its jobs are no longer held back); false when it had none. */
  async deleteConcurrency(key: string): Promise<boolean> {
    return this.db.transaction(async (m) => {
      // A DELETE through TypeORM answers [rows, count].
      const [rows]: [{ key: string }[], number] = await m.query(
        `DELETE FROM concurrency_limits WHERE key = $1 RETURNING key`,
        [key],
      );
      if (rows.length) await this.notifyQueuesOf(m.query.bind(m), key);
      return rows.length > 0;
    });
  }

  /** The state of one key (max null when no limit is set). */
  async concurrency(key: string): Promise<ConcurrencyLimitState> {
    const rows: StateRow[] = await this.db.query(
      `SELECT $1::text AS key, (SELECT max FROM concurrency_limits WHERE key = $1) AS max,
         ${KEYED_IN_USE('$1')} AS in_use, ${WAITING('$1')} AS waiting`,
      [key],
    );
    return state(rows[0]);
  }

  /**
   * Every key with a limit or with jobs in use or waiting, by key, at most `limit`. Reads the keyed
   * partial indexes only (unkeyed jobs are in neither).
   */
  async listConcurrency(limit = 1000): Promise<ConcurrencyLimitState[]> {
    const rows: StateRow[] = await this.db.query(
      `WITH keys AS (
         SELECT key FROM concurrency_limits
         UNION
         SELECT DISTINCT concurrency_key FROM jobs
         WHERE concurrency_key IS NOT NULL
           AND (status IN ('running', 'retrying') OR (status = 'queued' AND dispatched_at IS NOT NULL))
         UNION
         SELECT DISTINCT concurrency_key FROM jobs
         WHERE status = 'queued' AND dispatched_at IS NULL AND concurrency_key IS NOT NULL
       ), firsts AS (SELECT key FROM keys ORDER BY key LIMIT $1)
       SELECT f.key, l.max, ${KEYED_IN_USE('f.key')} AS in_use, ${WAITING('f.key')} AS waiting
       FROM firsts f LEFT JOIN concurrency_limits l ON l.key = f.key
       ORDER BY f.key`,
      [limit],
    );
    return rows.map(state);
  }

  /**
   * Per queue, the concurrency keys of its jobs in use or waiting (counts per key, across queues),
   * at most `limit` pairs; read through the keyed partial indexes only.
   */
  async concurrencyByQueue(limit = 1000): Promise<Map<string, ConcurrencyLimitState[]>> {
    const rows: (StateRow & { queue: string })[] = await this.db.query(
      `WITH pairs AS (
         SELECT DISTINCT queue, concurrency_key AS key FROM jobs
         WHERE status = 'queued' AND dispatched_at IS NULL AND concurrency_key IS NOT NULL
         UNION
         SELECT DISTINCT queue, concurrency_key FROM jobs
         WHERE concurrency_key IS NOT NULL
           AND (status IN ('running', 'retrying') OR (status = 'queued' AND dispatched_at IS NOT NULL))
       ), firsts AS (SELECT queue, key FROM pairs ORDER BY queue, key LIMIT $1)
       SELECT f.queue, f.key, l.max, ${KEYED_IN_USE('f.key')} AS in_use, ${WAITING('f.key')} AS waiting
       FROM firsts f LEFT JOIN concurrency_limits l ON l.key = f.key
       ORDER BY f.queue, f.key`,
      [limit],
    );
    const byQueue = new Map<string, ConcurrencyLimitState[]>();
    for (const row of rows) byQueue.set(row.queue, [...(byQueue.get(row.queue) ?? []), state(row)]);
    return byQueue;
  }

  /**
   * Whether a queued job of `key` still in the backlog is held back by its key: the key has a limit
   * (a keyed job without one is released as soon as the window has room, like any other).
   */
  async limited(key: string): Promise<boolean> {
    const rows: unknown[] = await this.db.query(`SELECT 1 FROM concurrency_limits WHERE key = $1`, [key]);
    return rows.length > 0;
  }

  /** A tenant's fair-share weight (1 when none is set). */
  async tenantWeight(tenant: string): Promise<number> {
    const rows: { weight: number }[] = await this.db.query(
      `SELECT weight FROM tenant_weights WHERE tenant = $1`,
      [tenant],
    );
    return rows[0]?.weight ?? 1;
  }

  /** Sets a tenant's fair-share weight; the next release statement of every dispatcher uses it. */
  async setTenantWeight(tenant: string, weight: number): Promise<void> {
    await this.db.query(
      `INSERT INTO tenant_weights (tenant, weight, updated_at) VALUES ($1, $2, now())
       ON CONFLICT (tenant) DO UPDATE SET weight = EXCLUDED.weight, updated_at = now()`,
      [tenant, weight],
    );
  }

  private async notifyQueuesOf(
    query: (sql: string, params: unknown[]) => Promise<unknown>,
    key: string,
  ): Promise<void> {
    await query(
      `SELECT pg_notify('${KEYED_CHANNEL}', q.queue) FROM (
         SELECT DISTINCT queue FROM jobs
         WHERE status = 'queued' AND dispatched_at IS NULL AND concurrency_key IS NOT NULL AND concurrency_key = $1
       ) q`,
      [key],
    );
  }
}
