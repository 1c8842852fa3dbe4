import type { EntityManager } from 'typeorm';
import { DISPATCH_CHANNEL } from './dispatch-channels';
import type { OutboxMessage, OutboxRecord } from './job-messages';

/** Writes outbox rows in the caller's transaction; returns their ids in the order of `messages`. */
export async function insertOutboxRows(
  m: EntityManager,
  messages: readonly OutboxMessage[],
): Promise<string[]> {
  if (!messages.length) return [];
  const rows: { id: string }[] = await m.query(
    `INSERT INTO outbox (job_id, name, payload, options)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::jsonb[])
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
