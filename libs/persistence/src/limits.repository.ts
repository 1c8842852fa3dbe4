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

/** A rate key's budget (null: none), its tokens now (null: no budget), its hold and its waiting jobs. */
export interface RateLimitState {
  key: string;
  perMinute: number | null;
  burst: number | null;
  tokens: number | null;
  heldUntil: Date | null;
  waiting: number;
}

interface RateRow {
  key: string;
  per_minute: number | null;
  burst: number | null;
  tokens: number | null;
  held_until: Date | null;
  waiting: number;
}

const rateState = (r: RateRow): RateLimitState => ({
  key: r.key,
  perMinute: r.per_minute === null ? null : Number(r.per_minute),
  burst: r.burst === null ? null : Number(r.burst),
  tokens: r.tokens === null ? null : Math.floor(Number(r.tokens) * 1000) / 1000,
  heldUntil: r.held_until,
  waiting: Number(r.waiting),
});

/** Waiting (backlog) rated jobs of a key, through `jobs_rated_backlog`'s predicate. */
const RATE_WAITING = (key: string) => `(SELECT count(*)::int FROM jobs
    WHERE status = 'queued' AND dispatched_at IS NULL AND concurrency_key IS NULL AND rate_key IS NOT NULL
      AND rate_key = ${key})`;

/**
 * A rate key's row of the views: `f.key` the key; its budget, its tokens now (the bucket's plus the
 * refill since, at most the burst, as the rated release computes them) and a hold still running.
 */
const RATE_VIEW = `SELECT f.key, l.per_minute, l.burst,
    CASE WHEN l.key IS NULL THEN NULL
         WHEN b.tokens IS NULL OR b.refilled_at IS NULL THEN l.burst::float8
         ELSE LEAST(l.burst::float8, b.tokens + greatest(0, extract(epoch FROM now() - b.refilled_at)) * l.per_minute / 60.0)
    END AS tokens,
    CASE WHEN b.held_until > now() THEN b.held_until END AS held_until,
    ${RATE_WAITING('f.key')} AS waiting
  FROM firsts f LEFT JOIN rate_limits l ON l.key = f.key LEFT JOIN rate_buckets b ON b.key = f.key`;

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

  /**
   * Sets the rate budget of `key` (provider rate budgets): `perMinute` jobs a minute with a token
   * bucket of `burst`. The bucket keeps its tokens (at most the new burst); the dispatchers' next
   * rated pass (at the latest their safety tick) releases within the new budget.
   */
  async setRate(key: string, perMinute: number, burst: number): Promise<RateLimitState> {
    await this.db.query(
      `INSERT INTO rate_limits (key, per_minute, burst, updated_at) VALUES ($1, $2, $3, now())
       ON CONFLICT (key) DO UPDATE SET per_minute = EXCLUDED.per_minute, burst = EXCLUDED.burst, updated_at = now()`,
      [key, perMinute, burst],
    );
    return this.rate(key);
  }

  /** Removes the budget of `key` (its jobs are released freely, unless a 429 holds the key); false when it had none. */
  async deleteRate(key: string): Promise<boolean> {
    const [rows]: [{ key: string }[], number] = await this.db.query(
      `DELETE FROM rate_limits WHERE key = $1 RETURNING key`,
      [key],
    );
    return rows.length > 0;
  }

  /** The state of one rate key (perMinute null when no budget is set). */
  async rate(key: string): Promise<RateLimitState> {
    const rows: RateRow[] = await this.db.query(`WITH firsts AS (SELECT $1::text AS key) ${RATE_VIEW}`, [
      key,
    ]);
    return rateState(rows[0]);
  }

  /**
   * Every rate key with a budget, a hold still running or rated jobs waiting, by key, at most
   * `limit`. Reads `jobs_rated_backlog` only (no other job is in it).
   */
  async listRate(limit = 1000): Promise<RateLimitState[]> {
    const rows: RateRow[] = await this.db.query(
      `WITH keys AS (
         SELECT key FROM rate_limits
         UNION
         SELECT key FROM rate_buckets WHERE held_until > now()
         UNION
         SELECT DISTINCT rate_key FROM jobs
         WHERE status = 'queued' AND dispatched_at IS NULL AND concurrency_key IS NULL AND rate_key IS NOT NULL
       ), firsts AS (SELECT key FROM keys ORDER BY key LIMIT $1)
       ${RATE_VIEW}
       ORDER BY f.key`,
      [limit],
    );
    return rows.map(rateState);
  }

  /**
   * Whether a queued job of rate key `key` still in the backlog is held back by it: a provider's 429
   * holds the key now, or its budget has no whole token left.
   */
  async rateHeld(key: string): Promise<boolean> {
    const { heldUntil, tokens, perMinute } = await this.rate(key);
    return heldUntil !== null || (perMinute !== null && (perMinute === 0 || (tokens ?? 0) < 1));
  }

  /** Holds recorded per rate key since the key was first held (`switchyard_rate_limit_holds_total`). */
  async rateHolds(): Promise<{ key: string; holds: number }[]> {
    const rows: { key: string; holds: string }[] = await this.db.query(
      `SELECT key, holds FROM rate_buckets WHERE holds > 0 ORDER BY key LIMIT 1000`,
    );
    return rows.map((r) => ({ key: r.key, holds: Number(r.holds) }));
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
