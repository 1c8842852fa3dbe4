import type { EntityManager } from 'typeorm';
import { DISPATCH_CHANNEL } from './dispatch-channels';
import { historyOfEventMessages } from './history-rows';
import type { OutboxMessage, OutboxRecord } from './job-messages';

/**
 * Writes outbox rows in the caller's transaction; returns their ids in the order of `messages`.
 * The history rows of the lifecycle events among them (HISTORY_WRITTEN_BY_PRODUCER) are written
 * in the same statement, so every transition that commits its event to the outbox commits its
 * history with it. Events of jobs no longer stored (purged meanwhile) get no history row.
 */
export async function insertOutboxRows(
  m: EntityManager,
  messages: readonly OutboxMessage[],
): Promise<string[]> {
  if (!messages.length) return [];
  const rows: { id: string }[] = await m.query(
    `WITH v AS MATERIALIZED (
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::jsonb[]) WITH ORDINALITY
         AS v(job_id, name, payload, options, ord)
     ), history AS (
       ${historyOfEventMessages('v', 'EXISTS (SELECT 1 FROM jobs WHERE jobs.id = m.job_id)')}
     )
     INSERT INTO outbox (job_id, name, payload, options)
     SELECT job_id, name, payload, options FROM v ORDER BY ord
     RETURNING id`,
    [
      messages.map((o) => o.jobId),
      messages.map((o) => o.name),
      messages.map((o) => JSON.stringify(o.payload)),
      messages.map((o) => JSON.stringify(o.options)),
    ],
  );
  return rows.map((r) => r.id);
}

/** insertOutboxRows, returning the records to publish after the commit. */
export async function recordOutbox(
  m: EntityManager,
  messages: readonly OutboxMessage[],
): Promise<OutboxRecord[]> {
  const ids = await insertOutboxRows(m, messages);
  return messages.map((message, i) => ({ ...message, id: ids[i] ?? '' }));
}

/** Notifies DISPATCH_CHANNEL once per distinct queue (at commit; PostgreSQL folds duplicates). */
export async function notifyDispatchIn(m: EntityManager, queues: readonly string[]): Promise<void> {
  const distinct = [...new Set(queues)];
  if (distinct.length) {
    await m.query(`SELECT pg_notify('${DISPATCH_CHANNEL}', q) FROM unnest($1::text[]) AS q`, [distinct]);
  }
}
