import type { EntityManager } from 'typeorm';
import { eventCloudType, HISTORY_WRITTEN_BY_PRODUCER } from '@switchyard/contracts';

/**
 * History written with the state (HISTORY_WRITTEN_BY_PRODUCER): the statement, or the transaction,
 * that changes a job's status also inserts the `job_events` row of the event it emits, so the
 * history never waits for, or depends on, the event's delivery to the progress-tracker. The row
 * holds what the tracker wrote from the delivered event before: the same seq, name, status,
 * report, attempt, error, correlation id, and the event's `time` as `created_at`.
 */
const HISTORY_COLUMNS =
  'job_id, seq, event, status, step, progress, message, attempt, error, correlation_id, created_at';

/** The CloudEvent types whose producers write history, as an SQL array (constants only). */
const PRODUCER_TYPES = `'{${HISTORY_WRITTEN_BY_PRODUCER.map(eventCloudType).join(',')}}'::text[]`;

/** `switchyard.job.<event>` → `<event>` in SQL (1-based substr). */
const EVENT_NAME_FROM = 'switchyard.job.'.length + 1;

/**
 * INSERT of the history rows of the producer-written lifecycle events among outbox messages.
 * `rows` (a CTE or subquery alias) has `job_id`, `name` (the message name: the CloudEvent type for
 * events) and `payload` (the message as jsonb); `where` narrows it further (e.g. to jobs that
 * still exist). Other messages (dispatch, cancel commands, `progress`) write nothing. A repeat of
 * a (job, seq) already written is skipped: the outbox relays and the worker's unconfirmed-publish
 * fallback may write an event twice.
 */
export function historyOfEventMessages(rows: string, where = 'true'): string {
  return `INSERT INTO job_events (${HISTORY_COLUMNS})
    SELECT m.job_id, (m.payload #>> '{data,seq}')::bigint, substr(m.name, ${EVENT_NAME_FROM}),
      m.payload #>> '{data,status}', m.payload #>> '{data,step}', (m.payload #>> '{data,progress}')::real,
      m.payload #>> '{data,message}', (m.payload #>> '{data,attempt}')::int,
      nullif(m.payload #> '{data,error}', 'null'::jsonb), m.payload ->> 'correlationid',
      (m.payload ->> 'time')::timestamptz
    FROM ${rows} m
    WHERE m.name = ANY(${PRODUCER_TYPES}) AND ${where}
    ON CONFLICT (job_id, seq) DO NOTHING`;
}

/**
 * INSERT of the history rows of the events that updated job rows report. `rows` is a CTE of the
 * updated rows (their new values). By default each row's new status names its event (`queued`,
 * `retrying`, `completed`, `failed`, `cancelled`: the worker's and the sweepers' transitions emit
 * the event of that name) with the row's seq and report, as jobEventFromRow builds the event, at
 * the statement's `now()` — the `event_at` the statement returns for the event's `time`. Without
 * ON CONFLICT: the statement that moved event_seq to this seq is the only writer of it.
 */
export function historyOfJobRows(
  rows: string,
  overrides: {
    seq?: string;
    event?: string;
    step?: string;
    progress?: string;
    message?: string;
    at?: string;
  } = {},
): string {
  const o = {
    seq: 'r.event_seq',
    event: 'r.status',
    step: 'r.step',
    progress: 'r.progress',
    message: 'r.message',
    at: 'now()',
    ...overrides,
  };
  return `INSERT INTO job_events (${HISTORY_COLUMNS})
    SELECT r.id, ${o.seq}, ${o.event}, r.status, ${o.step}, ${o.progress}, ${o.message}, r.attempts, r.error,
      r.correlation_id, ${o.at}
    FROM ${rows} r`;
}

/**
 * One status change that writes its event's history row with it: `update` (an UPDATE of `jobs`
 * without RETURNING) as the CTE `name`, its rows' history (historyOfJobRows), and the updated rows
 * with the statement's `now()` as `event_at`, the event's `time`.
 */
export function updateWithHistory(name: string, update: string): string {
  return `WITH ${name} AS (
         ${update}
         RETURNING *
       ), history AS (
         ${historyOfJobRows(name)}
       )
       SELECT ${name}.*, now() AS event_at FROM ${name}`;
}

/**
 * Deletes jobs and then their history, as two statements of the caller's transaction `m`:
 * `deleteJobs` is a DELETE FROM jobs … RETURNING id (and whatever else the caller needs), and
 * job_events has no foreign key to cascade along. The history is deleted by a second statement on
 * purpose: under READ COMMITTED it takes a new snapshot, after the DELETE has waited for the row
 * locks of projectors still writing history of these jobs (ProjectionRepository locks each job
 * row FOR KEY SHARE before writing its history), so a row such a projector committed meanwhile is
 * deleted too. One statement with a history CTE would miss it (the CTE reads the snapshot taken
 * before the wait) and leave an orphaned history row. Returns the deleted jobs' rows and how many
 * history rows went with them.
 */
export async function deleteJobsWithHistory<R extends { id: string }>(
  m: EntityManager,
  deleteJobs: string,
  params: unknown[],
): Promise<{ rows: R[]; events: number }> {
  // TypeORM answers a DELETE with [rows, count].
  const [rows]: [R[], number] = await m.query(deleteJobs, params);
  if (!rows.length) return { rows, events: 0 };
  const [, events]: [unknown[], number] = await m.query(
    `DELETE FROM job_events WHERE job_id = ANY($1::uuid[])`,
    [rows.map((r) => r.id)],
  );
  return { rows, events };
}
