import type { DataSource, EntityManager } from 'typeorm';
import type { QueryResultRow } from 'pg';
import { isUuid, type JobError, type JobHistoryEntry, type JobStatus } from '@switchyard/contracts';
import { translated } from './errors';
import { poolOf, queryNamed } from './pool';
import { CLAIMED_CHANNEL, DISPATCH_CHANNEL } from './dispatch-channels';
import { insertOutboxRows } from './outbox-rows';
import { historyOfEventMessages, historyOfJobRows } from './history-rows';
import { finishSettling, settleAndRecord } from './flow-dependants';
import { toHistoryEntry, type JobEventRow, type JobRow } from './job-row';
import {
  JOB_EVENT_COLUMNS,
  type EventTime,
  type JobEventSource,
  type OutboxMessage,
  type OutboxRecord,
} from './job-messages';

/**
 * Sequence numbers: the gateway's `job.queued` event is seq 1. A claim reserves a block of
 * SEQ_BLOCK numbers for that attempt's `job.started` and `job.progress` events, which the worker
 * hands out locally without a database round trip; every other status change takes the next
 * number after the block. So seq only grows per job, whoever emits the event.
 */
export const SEQ_BLOCK = 10000;

export interface NewJob {
  id: string;
  tenant: string;
  type: string;
  queue: string;
  priority: number;
  maxAttempts: number;
  timeoutMs: number;
  correlationId: string;
  idempotencyKey: string | null;
  requestHash: string;
  payload: Record<string, unknown>;
  metadata: Record<string, unknown>;
  /**
   * ISO-8601 time a delayed job becomes `queued`: the job is stored `scheduled` until then. Set
   * only for a time still ahead (the caller resolves runAt/delayMs); absent or null: `queued` now.
   */
  runAt?: string | null;
  /** A schedule run: the schedule and the tick (ISO-8601) the run belongs to. */
  scheduleId?: string | null;
  scheduledFor?: string | null;
  /** Flow jobs (SPEC §11): the flow, the job's ref in it, and its rule for failed dependencies. */
  flowId?: string | null;
  ref?: string | null;
  onDependencyFailure?: 'fail' | 'run' | 'skip';
  /** Dependencies not finished yet: above 0, the job is stored `waiting` (no event, seq 0). */
  pendingDeps?: number;
  /** Spawned by a handler: the spawning job and the child's index (unique together). */
  spawnedBy?: string | null;
  spawnIndex?: number | null;
  /** W3C trace context of the insert span (tracing on only). */
  traceparent?: string | null;
  tracestate?: string | null;
  /** Per-key concurrency (SPEC §11): released only within the key's limit. */
  concurrencyKey?: string | null;
  /** Provider rate budgets (SPEC §11): released only within the key's budget and never while it is held. */
  rateKey?: string | null;
  /** Where the job's webhook deliveries go instead of the URL of its origin's endpoint. */
  webhookUrl?: string | null;
  /**
   * Released by its own insert (the dispatcher's fast path for an idle queue): stored with
   * `dispatched_at`, `released_attempt` 0 and `releases` 1, its work message written to the outbox
   * with it. Only for a job queued at once with no key.
   */
  released?: boolean;
}

/**
 * The columns the insert returns: those PostgreSQL computes (the id's canonical form, status,
 * times, sequence numbers) or normalizes (jsonb, uuid and millisecond timestamps). The others are
 * the NewJob's own values or the table's defaults: RETURNING * of ~49 columns cost the gateway a
 * row description and a parser per column for every insert (docs/performance.md).
 */
export const INSERTED_JOB_COLUMNS = [
  'id',
  'status',
  'payload',
  'metadata',
  'created_at',
  'event_seq',
  'progress_seq',
  'dispatched_at',
  'run_at',
  'schedule_id',
  'scheduled_for',
  'flow_id',
  'spawned_by',
] as const satisfies readonly (keyof JobRow)[];
export type InsertedJobColumns = Pick<JobRow, (typeof INSERTED_JOB_COLUMNS)[number]>;

/**
 * The stored row of a job just inserted from `job`: the returned columns, the NewJob's values and
 * the defaults of a new row (the insert's SQL and the table's defaults), in the table's column
 * order, so that it serializes as `SELECT *` of the row does (an int test compares the two).
 */
export function storedJobRow(job: NewJob, c: InsertedJobColumns): JobRow {
  return {
    id: c.id,
    tenant: job.tenant,
    type: job.type,
    queue: job.queue,
    status: c.status,
    priority: job.priority,
    step: null,
    progress: 0,
    message: null,
    attempts: 0,
    max_attempts: job.maxAttempts,
    timeout_ms: job.timeoutMs,
    correlation_id: job.correlationId,
    idempotency_key: job.idempotencyKey,
    request_hash: job.requestHash,
    payload: c.payload,
    metadata: c.metadata,
    result: null,
    result_url: null,
    error: null,
    created_at: c.created_at,
    started_at: null,
    finished_at: null,
    next_attempt_at: null,
    cancel_requested: false,
    dead_lettered: false,
    lease_owner: null,
    lease_expires_at: null,
    event_seq: c.event_seq,
    progress_seq: c.progress_seq,
    dispatched_at: c.dispatched_at,
    run_at: c.run_at,
    released_attempt: job.released ? 0 : null,
    releases: job.released ? 1 : 0,
    schedule_id: c.schedule_id,
    scheduled_for: c.scheduled_for,
    flow_id: c.flow_id,
    ref: job.ref ?? null,
    on_dependency_failure: job.onDependencyFailure ?? 'fail',
    pending_deps: job.pendingDeps ?? 0,
    spawned_by: c.spawned_by,
    spawn_index: job.spawnIndex ?? null,
    attempts_base: 0,
    traceparent: job.traceparent ?? null,
    tracestate: job.tracestate ?? null,
    attempt_traceparent: null,
    concurrency_key: job.concurrencyKey ?? null,
    webhook_url: job.webhookUrl ?? null,
    rate_key: job.rateKey ?? null,
  };
}

export interface JobListQuery {
  tenant?: string;
  status?: JobStatus;
  type?: string;
  queue?: string;
  createdAfter?: Date;
  createdBefore?: Date;
  /** Only jobs in (true) or out of (false) the dead-letter queue. */
  deadLettered?: boolean;
  /** Only jobs whose last error has this code. */
  errorCode?: string;
  /** Only the job submitted with this idempotency key. */
  idempotencyKey?: string;
  /** Only jobs whose `metadata[key]`, as text, is `value`. */
  metadata?: { key: string; value: string };
  limit: number;
  cursor?: string;
}

export type FinishOutcome =
  | { status: 'completed'; result: unknown; resultUrl: string | null }
  | { status: 'failed'; error: JobError; deadLettered: boolean };

export class InvalidCursorError extends Error {}

export function encodeCursor(row: Pick<JobRow, 'created_at' | 'id'>): string {
  return Buffer.from(`${row.created_at.toISOString()}|${row.id}`).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(at ?? '');
  if (!id || Number.isNaN(createdAt.getTime()) || !isUuid(id)) {
    throw new InvalidCursorError('cursor is not one this API returned');
  }
  return { createdAt, id };
}

/** What a claimed attempt needs: the event columns plus what the runner reads to run it. */
export const CLAIMED_JOB_COLUMNS = [
  ...JOB_EVENT_COLUMNS,
  'priority',
  'max_attempts',
  'timeout_ms',
  'payload',
  'ref',
  'traceparent',
  'tracestate',
  'attempt_traceparent',
] as const satisfies readonly (keyof JobRow)[];

/** The part of a `jobs` row claimMany returns. */
export type ClaimedJob = Pick<JobRow, (typeof CLAIMED_JOB_COLUMNS)[number]>;

/** One `completed` outcome for completeMany. */
export interface CompletedOutcome {
  jobId: string;
  result: unknown;
  resultUrl: string | null;
  last: { step: string | null; message: string | null };
}

/**
 * Row locks in id order. The grouped statements of the worker and the tracker's batches lock
 * several job rows each; a plan that visits them in heap order (a bitmap scan, a hash join) could
 * lock them in another order than a concurrent statement, and PostgreSQL would then find the
 * deadlock only after deadlock_timeout (1 s), stalling both. The sorted `FOR NO KEY UPDATE`
 * (the lock an UPDATE of non-key columns takes anyway) makes every such statement lock in one order.
 */
const lockedInIdOrder = (ids: string) =>
  `SELECT id FROM jobs WHERE id = ANY(${ids}) ORDER BY id FOR NO KEY UPDATE`;

/**
 * Appended to a statement whose CTE `rows` returns job rows: NOTIFY the dispatch channel once per
 * distinct queue among them (the cross join with a one-row aggregate makes the notify run).
 */
const notifyQueuesOf = (rows: string) =>
  `(SELECT count(pg_notify('${DISPATCH_CHANNEL}', d.queue)) FROM (SELECT DISTINCT queue FROM ${rows}) d) notified`;

/**
 * Tells the dispatchers how many jobs of each queue the claim took out of the window (one
 * CLAIMED_CHANNEL notification per queue: `<count>:<queue>`). Claims of `retrying` jobs are counted
 * too: the count only wakes the dispatchers, whose release statement counts the window itself.
 */
const notifyClaimsOf = (rows: string) =>
  `(SELECT count(pg_notify('${CLAIMED_CHANNEL}', d.n || ':' || d.queue))
    FROM (SELECT queue, count(*) AS n FROM ${rows} GROUP BY queue) d) notified`;

/** The SQL parameters a claim reads besides its ids: the owner and the lease in ms. */
interface ClaimParams {
  owner: string;
  leaseMs: string;
}

/**
 * The claim's UPDATE (`claimed` CTE) and its history: each claimed attempt's `started` history row
 * (seq: the first number of the block the claim reserves; at `started_at`, the event's time). The
 * row's report (step, progress, message) starts empty at that seq, as the `started` event reports
 * it. `locked`: the subquery of the ids whose rows it may update, locked in id order.
 */
const claimCtes = (p: ClaimParams, locked: string, history = 'history') => `claimed AS (
    UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = now(), next_attempt_at = NULL,
      lease_owner = ${p.owner}::text, lease_expires_at = now() + make_interval(secs => ${p.leaseMs}::double precision / 1000),
      event_seq = event_seq + ${SEQ_BLOCK},
      step = NULL, progress = 0, message = NULL, progress_seq = event_seq + 1
    WHERE id IN (${locked})
      AND status IN ('queued', 'retrying') AND NOT cancel_requested
    RETURNING ${CLAIMED_JOB_COLUMNS.join(', ')}
  ), ${history} AS (
    ${historyOfJobRows('claimed', { seq: `r.event_seq - ${SEQ_BLOCK - 1}`, event: `'started'`, at: 'r.started_at' })}
  )`;

/**
 * Claims, writes the claimed attempts' `started` history rows, then tells the dispatchers that the
 * claimed jobs' queues have free window slots.
 */
const CLAIM_MANY = `WITH ${claimCtes({ owner: '$2', leaseMs: '$3' }, lockedInIdOrder('$1::uuid[]'))}
  SELECT claimed.* FROM claimed, ${notifyClaimsOf('claimed')}`;

/**
 * The completion's UPDATE (`done` CTE; $1 the owner, $2…$6 the outcomes as arrays) and its
 * `completed` history rows. progress is 100 for every completed attempt, as finish() writes it.
 * `locked`: as for claimCtes.
 */
const completeCtes = (locked: string, history = 'history') => `done AS (
    UPDATE jobs j SET status = 'completed', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL,
      event_seq = j.event_seq + 1, progress_seq = j.event_seq + 1,
      step = v.step, progress = 100, message = v.message,
      result = v.result, result_url = v.result_url, error = NULL, dead_lettered = false
    FROM unnest($2::uuid[], $3::jsonb[], $4::text[], $5::text[], $6::text[]) AS v(id, result, result_url, step, message)
    WHERE j.id = v.id AND j.id IN (${locked})
      AND j.status = 'running' AND j.lease_owner = $1::text
    RETURNING ${JOB_EVENT_COLUMNS.map((c) => `j.${c}`).join(', ')}
  ), ${history} AS (
    ${historyOfJobRows('done')}
  )`;

/** The completions; `event_at` is the time of their history rows (the events'). */
const COMPLETE_MANY = `WITH ${completeCtes(lockedInIdOrder('$2::uuid[]'))}
  SELECT done.*, now() AS event_at FROM done`;

/** The columns a claimed row has beyond an event's, with their types (NULL in a completed row). */
const CLAIM_ONLY_TYPES: Record<
  Exclude<(typeof CLAIMED_JOB_COLUMNS)[number], (typeof JOB_EVENT_COLUMNS)[number]>,
  string
> = {
  priority: 'smallint',
  max_attempts: 'integer',
  timeout_ms: 'integer',
  payload: 'jsonb',
  ref: 'text',
  traceparent: 'text',
  tracestate: 'text',
  attempt_traceparent: 'text',
};
const CLAIM_ONLY_COLUMNS = CLAIMED_JOB_COLUMNS.slice(
  JOB_EVENT_COLUMNS.length,
) as (keyof typeof CLAIM_ONLY_TYPES)[];

/**
 * The worker's turn: completeMany and claimMany in one statement (one round trip, one commit).
 * $1…$6 as COMPLETE_MANY, $7 the ids to claim, $8 the lease. Every row either part may update is
 * locked first, in id order across both lists (`locked`), so that the statement locks like every
 * other grouped statement; both parts then update only locked rows, each under its own condition
 * (a completion: still `running` under this owner; a claim: `queued`/`retrying`, no cancel
 * request). Both read the statement's one snapshot, in which a row is in at most one of those
 * states, so no row is updated twice. One result set: `turn` tells the claimed rows (with
 * CLAIMED_JOB_COLUMNS) from the completed ones (JOB_EVENT_COLUMNS and `event_at`).
 */
const TURN = `WITH locked AS MATERIALIZED (${lockedInIdOrder('array_cat($2::uuid[], $7::uuid[])')}),
  ${completeCtes('SELECT id FROM locked', 'done_history')},
  ${claimCtes({ owner: '$1', leaseMs: '$8' }, 'SELECT id FROM locked WHERE id = ANY($7::uuid[])', 'claim_history')}
  SELECT 'completed' AS turn, done.*, ${CLAIM_ONLY_COLUMNS.map((c) => `NULL::${CLAIM_ONLY_TYPES[c]} AS ${c}`).join(', ')},
    now() AS event_at
  FROM done
  UNION ALL
  SELECT 'claimed', claimed.*, NULL FROM claimed, ${notifyClaimsOf('claimed')}`;

/**
 * Jobs and their outgoing messages in one statement (JobsRepository.insertJobs): $1 the jobs and $2
 * the messages as JSON documents, $3 the first job's id (its row carries the outbox ids). Named:
 * at single submissions it runs for one or two jobs, so an unnamed one was parsed and planned per
 * request (docs/performance.md, "Named statements for the per-job path"); its plan does not depend
 * on the tables' statistics (function scans into inserts).
 */
const INSERT_JOBS = `WITH j AS (
         INSERT INTO jobs (id, tenant, type, queue, status, priority, max_attempts, timeout_ms, correlation_id,
            idempotency_key, request_hash, payload, metadata, run_at, event_seq, progress_seq,
            flow_id, ref, on_dependency_failure, pending_deps, spawned_by, spawn_index, schedule_id, scheduled_for,
            traceparent, tracestate, concurrency_key, webhook_url, rate_key,
            dispatched_at, released_attempt, releases)
         SELECT u.id, u.tenant, u.type, u.queue,
            CASE WHEN coalesce(u."pendingDeps", 0) > 0 THEN 'waiting'
                 WHEN u."runAt" IS NULL THEN 'queued' ELSE 'scheduled' END,
            u.priority, u."maxAttempts", u."timeoutMs",
            u."correlationId", u."idempotencyKey", u."requestHash", u.payload, u.metadata, u."runAt",
            CASE WHEN u."runAt" IS NULL AND coalesce(u."pendingDeps", 0) = 0 THEN 1 ELSE 0 END,
            CASE WHEN u."runAt" IS NULL AND coalesce(u."pendingDeps", 0) = 0 THEN 1 ELSE 0 END,
            u."flowId", u.ref, coalesce(u."onDependencyFailure", 'fail'), coalesce(u."pendingDeps", 0),
            u."spawnedBy", u."spawnIndex", u."scheduleId", u."scheduledFor", u.traceparent, u.tracestate,
            u."concurrencyKey",
            u."webhookUrl", u."rateKey",
            CASE WHEN u.released THEN now() END, CASE WHEN u.released THEN 0 END,
            CASE WHEN u.released THEN 1 ELSE 0 END
         FROM json_to_recordset($1::json) AS u(id uuid, tenant text, type text, queue text, priority smallint,
            "maxAttempts" int, "timeoutMs" int, "correlationId" text, "idempotencyKey" text, "requestHash" text,
            payload jsonb, metadata jsonb, "runAt" timestamptz, "flowId" uuid, ref text,
            "onDependencyFailure" text, "pendingDeps" int, "spawnedBy" uuid, "spawnIndex" int,
            "scheduleId" uuid, "scheduledFor" timestamptz, traceparent text, tracestate text,
            "concurrencyKey" text, "webhookUrl" text, "rateKey" text, released boolean)
         RETURNING ${INSERTED_JOB_COLUMNS.join(', ')}
       ), v AS MATERIALIZED (
         SELECT * FROM ROWS FROM (json_to_recordset($2::json)
             AS ("jobId" uuid, name text, payload jsonb, options jsonb)) WITH ORDINALITY
           AS v(job_id, name, payload, options, ord)
       ), o AS (
         INSERT INTO outbox (job_id, name, payload, options)
         SELECT v.job_id, v.name, v.payload, v.options FROM v ORDER BY v.ord
         RETURNING id
       ), history AS (
         ${historyOfEventMessages('v')}
       )
       SELECT j.*, CASE WHEN j.id = $3::uuid THEN (SELECT array_agg(o.id ORDER BY o.id) FROM o) END AS outbox_ids
       FROM j`;

/** Hands each returned row to the first request for its id, in request order; the rest get null. */
function takeInOrder<R extends { id: string }>(ids: string[], rows: R[]): (R | null)[] {
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => {
    const key = id.toLowerCase();
    const row = byId.get(key);
    byId.delete(key);
    return row ?? null;
  });
}

/** One outcome per job (the first), in id order so that concurrent statements lock alike. */
function uniqueSorted(outcomes: CompletedOutcome[]): CompletedOutcome[] {
  const unique = new Map<string, CompletedOutcome>();
  for (const o of outcomes) if (!unique.has(o.jobId.toLowerCase())) unique.set(o.jobId.toLowerCase(), o);
  return [...unique.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, o]) => o);
}

/**
 * A hand-back ($1 the job, $2 the owner; `condition` narrows it): the attempt does not count, the
 * job is `queued` again and not released (the dispatchers release it), with its history row.
 */
const handBackCtes = (condition = '') => `returned AS (
         UPDATE jobs SET status = 'queued', attempts = greatest(attempts - 1, 0), lease_owner = NULL,
            lease_expires_at = NULL, event_seq = event_seq + 1, progress_seq = event_seq + 1, dispatched_at = NULL
         WHERE id = $1 AND status = 'running' AND lease_owner = $2${condition}
         RETURNING *
       ), history AS (
         ${historyOfJobRows('returned')}
       )`;

/**
 * The ids a claim sends: a malformed id would fail the whole statement; it names no job, so it is
 * simply not claimable. Sorted so that concurrent batches lock their rows in the same order.
 */
function claimableIds(jobIds: string[]): string[] {
  return [...new Set(jobIds.filter((id) => isUuid(id)).map((id) => id.toLowerCase()))].sort();
}

function completeParams(owner: string, list: CompletedOutcome[]): unknown[] {
  return [
    owner,
    list.map((o) => o.jobId),
    list.map((o) => JSON.stringify(o.result ?? null)),
    list.map((o) => o.resultUrl),
    list.map((o) => o.last.step),
    list.map((o) => o.last.message),
  ];
}

export class JobsRepository {
  constructor(
    private readonly db: DataSource,
    /** The service named as the source of the events of dependants a finish settles. */
    private readonly service = 'worker',
  ) {}

  /**
   * Inserts jobs and their outgoing messages in one statement (data-modifying CTEs): one round
   * trip and one implicit transaction, so either every row is written or none. `outboxIds` are in
   * the order of `outbox`. A job is stored `queued` in the backlog (`dispatched_at` NULL: the
   * dispatcher releases it; no dispatch message goes in the outbox), `queued` and released when
   * the caller marked it `released` (the fast path: its dispatch message is among `outbox`), or
   * `scheduled` with its `runAt`: its `job.queued` event, seq 1, is written when it is promoted,
   * so it starts at seq 0. The history rows of the lifecycle events in `outbox` (a queued job's
   * `job.queued`) are written in the same statement. Throws IdempotencyKeyTaken when a job's (tenant, idempotency key) is
   * already stored, DataRejected when PostgreSQL refuses another value; nothing is written then.
   */
  async insertJobs(
    jobs: NewJob[],
    outbox: OutboxMessage[],
    manager?: EntityManager,
  ): Promise<{ rows: JobRow[]; outboxIds: string[] }> {
    const m = manager ?? this.db.manager;
    if (!jobs.length) return { rows: [], outboxIds: await this.insertOutbox(outbox, m) };
    // Only the columns PostgreSQL computes or normalizes come back (storedJobRow adds the rest).
    // Rows travel as two JSON documents (one parameter each, no array literals to escape). The
    // outbox ids ride on the first job row only; sequence values grow in insertion order, which
    // follows the messages' ordinality, so sorted ids are in the order of `outbox`.
    const inserted = await translated(() =>
      queryNamed<InsertedJobColumns & { outbox_ids?: string[] | null }>(
        this.db,
        manager,
        'switchyard_insert_jobs',
        INSERT_JOBS,
        [
          JSON.stringify(jobs satisfies NewJob[]),
          JSON.stringify(outbox satisfies OutboxMessage[]),
          jobs[0].id,
        ],
      ),
    );
    let outboxIds: string[] = [];
    for (const row of inserted) if (row.outbox_ids) outboxIds = row.outbox_ids.map(String);
    if (outboxIds.length !== outbox.length) {
      throw new Error(`outbox insert returned ${outboxIds.length} ids for ${outbox.length} messages`);
    }
    const byId = new Map(jobs.map((job) => [job.id.toLowerCase(), job]));
    const rows = inserted.map((columns) => {
      const job = byId.get(columns.id);
      if (!job) throw new Error(`the insert returned job ${columns.id}, which it was not given`);
      return storedJobRow(job, columns);
    });
    return { rows, outboxIds };
  }

  async insertOutbox(messages: OutboxMessage[], manager?: EntityManager): Promise<string[]> {
    return insertOutboxRows(manager ?? this.db.manager, messages);
  }

  /** Outbox rows older than `olderThanMs` that the fast path did not publish (crash, broker down). */
  async pendingOutbox(olderThanMs: number, limit: number): Promise<OutboxRecord[]> {
    const rows: {
      id: string;
      job_id: string | null;
      name: OutboxMessage['name'];
      payload: OutboxMessage['payload'];
      options: OutboxMessage['options'];
    }[] = await this.db.query(
      `SELECT id, job_id, name, payload, options FROM outbox
       WHERE created_at < now() - make_interval(secs => $1::double precision / 1000)
       ORDER BY id LIMIT $2`,
      [olderThanMs, limit],
    );
    // Rows are written from OutboxMessage only, so name and payload belong together.
    return rows.map(
      (r) =>
        ({ id: r.id, jobId: r.job_id, name: r.name, payload: r.payload, options: r.options }) as OutboxRecord,
    );
  }

  async deleteOutbox(ids: string[]): Promise<void> {
    if (ids.length) await this.db.query(`DELETE FROM outbox WHERE id = ANY($1::bigint[])`, [ids]);
  }

  async findById(id: string, tenant?: string): Promise<JobRow | null> {
    const rows: JobRow[] = await this.db.query(
      `SELECT * FROM jobs WHERE id = $1 AND ($2::text IS NULL OR tenant = $2)`,
      [id, tenant ?? null],
    );
    return rows[0] ?? null;
  }

  async list(query: JobListQuery): Promise<{ rows: JobRow[]; nextCursor: string | null }> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (query.tenant !== undefined) add('tenant = ?', query.tenant);
    if (query.status) add('status = ?', query.status);
    if (query.type) add('type = ?', query.type);
    if (query.queue) add('queue = ?', query.queue);
    if (query.createdAfter) add('created_at > ?', query.createdAfter);
    if (query.createdBefore) add('created_at < ?', query.createdBefore);
    if (query.deadLettered !== undefined) add('dead_lettered = ?', query.deadLettered);
    if (query.errorCode) add("error->>'code' = ?", query.errorCode);
    if (query.idempotencyKey !== undefined) add('idempotency_key = ?', query.idempotencyKey);
    if (query.metadata) {
      params.push(query.metadata.key);
      add(`metadata->>$${params.length}::text = ?`, query.metadata.value);
    }
    if (query.cursor) {
      const { createdAt, id } = decodeCursor(query.cursor);
      params.push(createdAt, id);
      where.push(`(created_at, id) < ($${params.length - 1}, $${params.length}::uuid)`);
    }
    params.push(query.limit + 1);
    const rows: JobRow[] = await this.db.query(
      `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return { rows: page, nextCursor: rows.length > query.limit && last ? encodeCursor(last) : null };
  }

  async history(jobId: string): Promise<JobHistoryEntry[]> {
    const rows: JobEventRow[] = await this.db.query(
      `SELECT seq, event, status, step, progress, message, attempt, created_at FROM job_events
       WHERE job_id = $1 ORDER BY seq`,
      [jobId],
    );
    return rows.map(toHistoryEntry);
  }

  /** The last `count` history entries in seq order, and whether older ones exist. */
  async historyTail(
    jobId: string,
    count: number,
  ): Promise<{ entries: JobHistoryEntry[]; truncated: boolean }> {
    const rows: JobEventRow[] = await this.db.query(
      `SELECT seq, event, status, step, progress, message, attempt, created_at FROM job_events
       WHERE job_id = $1 ORDER BY seq DESC LIMIT $2`,
      [jobId, count + 1],
    );
    const truncated = rows.length > count;
    return { entries: rows.slice(0, count).reverse().map(toHistoryEntry), truncated };
  }

  /** History entries with seq above `afterSeq`, oldest first, at most `limit`, and whether more follow. */
  async historyPage(
    jobId: string,
    afterSeq: number,
    limit: number,
  ): Promise<{ entries: JobHistoryEntry[]; more: boolean }> {
    const rows: JobEventRow[] = await this.db.query(
      `SELECT seq, event, status, step, progress, message, attempt, created_at FROM job_events
       WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
      [jobId, afterSeq, limit + 1],
    );
    return { entries: rows.slice(0, limit).map(toHistoryEntry), more: rows.length > limit };
  }

  /**
   * Ends a running attempt held by `owner` with the last step and message the attempt reported;
   * returns the updated row, or null if the worker no longer holds the job. In the same
   * transaction a flow job's dependants are settled (queued, or failed/cancelled by their rule);
   * `outbox` holds their events, to publish after the commit.
   */
  async finish(
    jobId: string,
    owner: string,
    outcome: FinishOutcome,
    last: { step: string | null; progress: number; message: string | null },
  ): Promise<{ row: JobRow & EventTime; outbox: OutboxRecord[] } | null> {
    const completed = outcome.status === 'completed';
    return finishSettling(this.db, this.service, async (m) => {
      const rows: (JobRow & EventTime)[] = await m.query(
        `WITH finished AS (
           UPDATE jobs SET status = $3, finished_at = now(), lease_owner = NULL, lease_expires_at = NULL,
              event_seq = event_seq + 1, progress_seq = event_seq + 1,
              step = $8, progress = $9, message = $10,
              result = $4::jsonb, result_url = $5, error = $6::jsonb, dead_lettered = $7
           WHERE id = $1 AND status = 'running' AND lease_owner = $2
           RETURNING *
         ), history AS (
           ${historyOfJobRows('finished')}
         )
         SELECT finished.*, now() AS event_at FROM finished`,
        [
          jobId,
          owner,
          outcome.status,
          completed ? JSON.stringify(outcome.result ?? null) : null,
          completed ? outcome.resultUrl : null,
          completed ? null : JSON.stringify(outcome.error),
          completed ? false : outcome.deadLettered,
          last.step,
          completed ? 100 : last.progress,
          last.message,
        ],
      );
      return rows[0];
    });
  }

  /**
   * completeMany for flow jobs: the same completion, plus, in the same transaction, the dependants
   * it makes ready (`waiting → queued`, their `job.queued` events in the outbox, their queues'
   * dispatchers notified). Returns the rows per outcome and the outbox records to publish.
   */
  async completeFlowMany(
    owner: string,
    outcomes: CompletedOutcome[],
  ): Promise<{ rows: (JobEventSource | null)[]; outbox: OutboxRecord[] }> {
    const list = uniqueSorted(outcomes);
    return this.db.transaction(async (m) => {
      const rows = await m.query<(JobEventSource & EventTime)[]>(COMPLETE_MANY, completeParams(owner, list));
      const outbox = await settleAndRecord(m, this.service, rows);
      return {
        rows: takeInOrder(
          outcomes.map((o) => o.jobId),
          rows,
        ),
        outbox,
      };
    });
  }

  /**
   * The worker's batched claim: `queued|retrying → running` for every listed job without a
   * cancel request, in one statement (one commit), so two deliveries of one job can never both
   * run it. Returns, per requested id, the claimed row or null (not claimable — running
   * elsewhere, finished, cancelled —, malformed, or listed again earlier in the same call, so a
   * job is never handed out twice).
   */
  async claimMany(jobIds: string[], owner: string, leaseMs: number): Promise<(ClaimedJob | null)[]> {
    const ids = claimableIds(jobIds);
    if (!ids.length) return jobIds.map(() => null);
    const rows = await this.onPool<ClaimedJob>(CLAIM_MANY, [ids, owner, leaseMs], 'switchyard_claim');
    return takeInOrder(jobIds, rows);
  }

  /**
   * The worker's batched completion: `running → completed` in one statement for every listed job
   * still leased to `owner`, each with its own result and last report. Returns, per outcome, the
   * updated row (the columns a lifecycle event needs) or null when the worker no longer holds it.
   */
  async completeMany(owner: string, outcomes: CompletedOutcome[]): Promise<(JobEventSource | null)[]> {
    const rows = await this.onPool<JobEventSource & EventTime>(
      COMPLETE_MANY,
      completeParams(owner, uniqueSorted(outcomes)),
      'switchyard_complete',
    );
    return takeInOrder(
      outcomes.map((o) => o.jobId),
      rows,
    );
  }

  /**
   * The worker's turn: the completions and the claims of one event-loop turn in one statement (one
   * round trip, one commit), each with the semantics of completeMany and claimMany. With only one
   * kind, that kind's own statement runs.
   */
  async completeAndClaim(
    owner: string,
    leaseMs: number,
    outcomes: CompletedOutcome[],
    claimIds: string[],
  ): Promise<{ completed: (JobEventSource | null)[]; claimed: (ClaimedJob | null)[] }> {
    const ids = claimableIds(claimIds);
    if (!outcomes.length || !ids.length) {
      const [completed, claimed] = await Promise.all([
        outcomes.length ? this.completeMany(owner, outcomes) : [],
        this.claimMany(claimIds, owner, leaseMs),
      ]);
      return { completed, claimed };
    }
    const rows = await this.onPool<
      ({ turn: 'completed' } & JobEventSource & EventTime) | ({ turn: 'claimed' } & ClaimedJob & EventTime)
    >(TURN, [...completeParams(owner, uniqueSorted(outcomes)), ids, leaseMs], 'switchyard_worker_turn');
    const done: (JobEventSource & EventTime)[] = [];
    const claimed: ClaimedJob[] = [];
    for (const { turn, ...row } of rows) {
      if (turn === 'completed') {
        for (const column of CLAIM_ONLY_COLUMNS) delete (row as Partial<ClaimedJob>)[column];
        done.push(row);
      } else {
        delete (row as Partial<EventTime>).event_at;
        claimed.push(row as ClaimedJob);
      }
    }
    return {
      completed: takeInOrder(
        outcomes.map((o) => o.jobId),
        done,
      ),
      claimed: takeInOrder(claimIds, claimed),
    };
  }

  /**
   * Runs a hot statement on the DataSource's own pg Pool, past TypeORM's query wrapper. Unnamed by
   * default: a named statement gets a generic plan per connection that can outlive the table it
   * was made for — one made while `jobs` was nearly empty kept a sequential scan when it held tens
   * of thousands of rows. The worker's turn statement is named (`name`): it runs hundreds of times
   * a second, its parse and plan were a large part of the turn every slot waits for (the drain
   * 1,224–1,298 → 1,283–1,435 jobs/s; docs/performance.md). So are the claim and the completion
   * alone, which single submissions run about once a job each (the turn's parts; as the turn's, a
   * generic plan made while `jobs` is empty and never analyzed scans it until the first ANALYZE or
   * VACUUM of the table re-plans it). Their cached plans are invalidated
   * by the ANALYZE the table maintenance and the jobs table's autovacuum settings run after 5 % of
   * the rows changed, as the dispatcher's release statements' are.
   */
  private async onPool<R extends QueryResultRow>(
    text: string,
    values: unknown[],
    name?: string,
  ): Promise<R[]> {
    const result = await poolOf(this.db).query<R>(name ? { name, text, values } : { text, values });
    return result.rows;
  }

  /**
   * Gives a running job back (`running → queued`) when its worker stops before it finished; the
   * interrupted attempt does not count. The job returns to the backlog (not released) and its
   * queue's dispatchers are notified: they release it again, so the worker need not requeue its
   * delivery. Returns the updated row (for its `queued` event), or null when the job was no longer
   * this worker's.
   */
  async handBack(jobId: string, owner: string): Promise<(JobRow & EventTime) | null> {
    const [row] = await this.onPool<JobRow & EventTime>(
      `WITH ${handBackCtes()}
       SELECT returned.*, now() AS event_at FROM returned, ${notifyQueuesOf('returned')}`,
      [jobId, owner],
    );
    return row ?? null;
  }

  /**
   * A provider answered 429 for the job: its rate key is held fleet-wide until `retryAfterMs` from
   * now (a later hold already there is kept; `holds` counts them) and the job is handed back as in
   * handBack (the attempt does not count), in one statement. Returns the updated row, or null when
   * the job was no longer this worker's or has no rate key (nothing is held then).
   */
  async handBackRateLimited(
    jobId: string,
    owner: string,
    retryAfterMs: number,
  ): Promise<(JobRow & EventTime) | null> {
    const [row] = await this.onPool<JobRow & EventTime>(
      `WITH ${handBackCtes(' AND rate_key IS NOT NULL')}, held AS (
         INSERT INTO rate_buckets AS b (key, held_until, holds)
         SELECT rate_key, now() + make_interval(secs => $3::double precision / 1000), 1
         FROM returned WHERE rate_key IS NOT NULL
         ON CONFLICT (key) DO UPDATE
           SET held_until = GREATEST(b.held_until, EXCLUDED.held_until), holds = b.holds + 1
       )
       SELECT returned.*, now() AS event_at FROM returned, ${notifyQueuesOf('returned')}`,
      [jobId, owner, Math.max(0, retryAfterMs)],
    );
    return row ?? null;
  }

  /** Extends the leases `owner` still holds; returns the ids it still owns. */
  async renewLeases(owner: string, jobIds: string[], leaseMs: number): Promise<string[]> {
    if (!jobIds.length) return [];
    const [rows]: [{ id: string }[], number] = await this.db.query(
      `UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3::double precision / 1000)
       WHERE id = ANY($2::uuid[]) AND status = 'running' AND lease_owner = $1
       RETURNING id`,
      [owner, jobIds, leaseMs],
    );
    return rows.map((r) => r.id);
  }
}
