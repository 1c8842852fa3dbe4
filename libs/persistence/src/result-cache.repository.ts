import type { DataSource } from 'typeorm';

/**
 * The durable (second) level of the result cache (SPEC §4): tenant + request hash → the job that
 * completed it. Entries are filled on first use from the jobs table, so no writer on the
 * completion path has to know about the cache; hits and the last access are counted here.
 */
export class ResultCacheRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * The completed job answering this request, counting the hit; null on a miss. Looks at the cache
   * table first, then for a job of the same request that completed within `ttlSeconds`, which it
   * then records (with its own expiry: completion + TTL).
   */
  async lookup(
    tenant: string,
    requestHash: string,
    ttlSeconds: number,
  ): Promise<{ jobId: string; expiresAt: Date } | null> {
    const [hits]: [{ job_id: string; expires_at: Date }[], number] = await this.db.query(
      `UPDATE result_cache SET hits = hits + 1, last_access_at = now()
       WHERE tenant = $1 AND request_hash = $2 AND expires_at > now()
       RETURNING job_id, expires_at`,
      [tenant, requestHash],
    );
    if (hits[0]) return { jobId: hits[0].job_id, expiresAt: hits[0].expires_at };
    const rows: { job_id: string; expires_at: Date }[] = await this.db.query(
      `INSERT INTO result_cache AS c (tenant, request_hash, job_id, expires_at, hits, last_access_at)
       SELECT $1, $2, j.id, j.finished_at + make_interval(secs => $3), 1, now()
       FROM jobs j
       WHERE j.tenant = $1 AND j.request_hash = $2 AND j.request_hash <> '' AND j.status = 'completed'
         AND j.finished_at > now() - make_interval(secs => $3)
       ORDER BY j.finished_at DESC LIMIT 1
       ON CONFLICT (tenant, request_hash) DO UPDATE
         SET job_id = excluded.job_id, expires_at = excluded.expires_at, hits = c.hits + 1, last_access_at = now()
       RETURNING job_id, expires_at`,
      [tenant, requestHash, ttlSeconds],
    );
    return rows[0] ? { jobId: rows[0].job_id, expiresAt: rows[0].expires_at } : null;
  }

  /** Counts hits answered by the first level (Redis), which never reach lookup(). */
  async recordHit(tenant: string, requestHash: string): Promise<void> {
    await this.db.query(
      `UPDATE result_cache SET hits = hits + 1, last_access_at = now() WHERE tenant = $1 AND request_hash = $2`,
      [tenant, requestHash],
    );
  }

  /** Drops an entry whose job is gone or no longer usable. */
  async remove(tenant: string, requestHash: string): Promise<void> {
    await this.db.query(`DELETE FROM result_cache WHERE tenant = $1 AND request_hash = $2`, [
      tenant,
      requestHash,
    ]);
  }

  /** Sum of recorded hits (for /stats), for one tenant or all. */
  async totalHits(tenant?: string): Promise<number> {
    const rows: { hits: string | null }[] = await this.db.query(
      `SELECT sum(hits) AS hits FROM result_cache WHERE ($1::text IS NULL OR tenant = $1)`,
      [tenant ?? null],
    );
    return Number(rows[0]?.hits ?? 0);
  }
}
