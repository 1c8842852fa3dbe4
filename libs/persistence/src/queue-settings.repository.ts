import type { DataSource } from 'typeorm';
import { DISPATCH_CHANNEL, QUEUE_SETTINGS_CHANNEL } from './dispatch-channels';

export interface QueueSetting {
  queue: string;
  paused: boolean;
  /** When the queue was paused (ISO-8601); null while it is not. */
  pausedAt: string | null;
}

/**
 * Per-queue settings operators change at run time (`queue_settings`): whether a queue is paused.
 * Kept in PostgreSQL so that the state survives restarts and every gateway sees the same one.
 */
export class QueueSettingsRepository {
  constructor(private readonly db: DataSource) {}

  /** The queues paused now. */
  async pausedQueues(): Promise<Set<string>> {
    const rows: { queue: string }[] = await this.db.query(`SELECT queue FROM queue_settings WHERE paused`);
    return new Set(rows.map((r) => r.queue));
  }

  /** Settings of these queues (a queue without a row is not paused). */
  async settings(queues: readonly string[]): Promise<Map<string, QueueSetting>> {
    const rows: { queue: string; paused: boolean; paused_at: Date | null }[] = await this.db.query(
      `SELECT q.queue, coalesce(s.paused, false) AS paused, s.paused_at
       FROM unnest($1::text[]) AS q(queue) LEFT JOIN queue_settings s ON s.queue = q.queue`,
      [queues],
    );
    return new Map(rows.map((r) => [r.queue, toSetting(r)]));
  }

  /**
   * Pauses or resumes `queue` (idempotent: pausing a paused queue keeps its `pausedAt`). The same
   * statement notifies every dispatcher to re-read the paused set, and on resume wakes them for the
   * queue; NOTIFY is delivered at commit, so no listener reads the old state after it.
   */
  async setPaused(queue: string, paused: boolean): Promise<QueueSetting> {
    const rows: { queue: string; paused: boolean; paused_at: Date | null }[] = await this.db.query(
      `WITH s AS (
         INSERT INTO queue_settings AS s (queue, paused, paused_at, updated_at)
         VALUES ($1, $2, CASE WHEN $2 THEN now() END, now())
         ON CONFLICT (queue) DO UPDATE SET
           paused = EXCLUDED.paused,
           paused_at = CASE WHEN EXCLUDED.paused THEN coalesce(s.paused_at, now()) END,
           updated_at = now()
         RETURNING s.queue, s.paused, s.paused_at
       )
       SELECT s.queue, s.paused, s.paused_at,
         pg_notify('${QUEUE_SETTINGS_CHANNEL}', s.queue),
         CASE WHEN NOT s.paused THEN pg_notify('${DISPATCH_CHANNEL}', s.queue) END
       FROM s`,
      [queue, paused],
    );
    const row = rows[0];
    if (!row) throw new Error(`queue setting of "${queue}" was not written`);
    return toSetting(row);
  }
}

function toSetting(r: { queue: string; paused: boolean; paused_at: Date | null }): QueueSetting {
  return { queue: r.queue, paused: r.paused, pausedAt: r.paused_at ? r.paused_at.toISOString() : null };
}
