import type { DataSource, EntityManager } from 'typeorm';
import type { ScheduleJob, ScheduleOverlap, ScheduleView } from '@switchyard/contracts';
import { SCHEDULES_CHANNEL } from './dispatch-channels';
import { ScheduleQuotaExceeded, translated } from './errors';
import type { JobRow } from './job-row';
import { JobsRepository, InvalidCursorError, type NewJob } from './jobs.repository';
import type { OutboxMessage } from './job-messages';
import { listenOn } from './notify-listener';

export { SCHEDULES_CHANNEL };

/** A `schedules` row as node-postgres returns it. */
export interface ScheduleRow {
  id: string;
  tenant: string;
  name: string;
  cron: string | null;
  every_ms: string | null;
  timezone: string;
  job: ScheduleJob;
  overlap: ScheduleOverlap;
  catchup_window_ms: string;
  jitter_ms: number;
  start_at: Date | null;
  end_at: Date | null;
  paused: boolean;
  note: string | null;
  next_run_at: Date | null;
  buffered_for: Date | null;
  last_run_at: Date | null;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
}

/** The settable fields of a schedule (camelCase, times as Date). */
export interface ScheduleFields {
  name: string;
  cron: string | null;
  everyMs: number | null;
  timezone: string;
  job: ScheduleJob;
  overlap: ScheduleOverlap;
  catchupWindowMs: number;
  jitterMs: number;
  startAt: Date | null;
  endAt: Date | null;
  paused: boolean;
  note: string | null;
  nextRunAt: Date | null;
  bufferedFor: Date | null;
  lastRunAt: Date | null;
  lastError: string | null;
}

const COLUMNS: Record<keyof ScheduleFields, string> = {
  name: 'name',
  cron: 'cron',
  everyMs: 'every_ms',
  timezone: 'timezone',
  job: 'job',
  overlap: 'overlap',
  catchupWindowMs: 'catchup_window_ms',
  jitterMs: 'jitter_ms',
  startAt: 'start_at',
  endAt: 'end_at',
  paused: 'paused',
  note: 'note',
  nextRunAt: 'next_run_at',
  bufferedFor: 'buffered_for',
  lastRunAt: 'last_run_at',
  lastError: 'last_error',
};

/** The fields an evaluation writes. */
const EVALUATION_FIELDS = new Set<keyof ScheduleFields>([
  'nextRunAt',
  'lastRunAt',
  'lastError',
  'bufferedFor',
]);

/** An unfinished run of a schedule (the overlap policies look at these). */
export interface ActiveRun {
  id: string;
  scheduleId: string;
  status: string;
}

/**
 * What may be done with schedules locked in one transaction: the evaluator's claim of due
 * schedules, a trigger, a backfill, a change. Runs are inserted with the job repository's own
 * insert (the same statement as every submission), in this transaction, so a schedule's
 * `next_run_at` moves on with its runs or not at all.
 */
export interface ScheduleTx {
  activeRuns(scheduleIds: readonly string[]): Promise<ActiveRun[]>;
  /** The ticks (epoch ms) of `ticks` that already have a run of `scheduleId`. */
  existingTicks(scheduleId: string, ticks: readonly number[]): Promise<Set<number>>;
  insertRuns(jobs: NewJob[], outbox: OutboxMessage[]): Promise<{ rows: JobRow[]; outboxIds: string[] }>;
  save(id: string, fields: Partial<ScheduleFields>): Promise<ScheduleRow>;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** The settable fields of a stored schedule. */
export function scheduleFieldsOf(row: ScheduleRow): ScheduleFields {
  return {
    name: row.name,
    cron: row.cron,
    everyMs: row.every_ms === null ? null : Number(row.every_ms),
    timezone: row.timezone,
    job: row.job,
    overlap: row.overlap,
    catchupWindowMs: Number(row.catchup_window_ms),
    jitterMs: row.jitter_ms,
    startAt: row.start_at,
    endAt: row.end_at,
    paused: row.paused,
    note: row.note,
    nextRunAt: row.next_run_at,
    bufferedFor: row.buffered_for,
    lastRunAt: row.last_run_at,
    lastError: row.last_error,
  };
}

export function toScheduleView(row: ScheduleRow): ScheduleView {
  const fields = scheduleFieldsOf(row);
  return {
    id: row.id,
    tenant: row.tenant,
    ...fields,
    startAt: iso(fields.startAt),
    endAt: iso(fields.endAt),
    nextRunAt: iso(fields.nextRunAt),
    lastRunAt: iso(fields.lastRunAt),
    bufferedFor: iso(fields.bufferedFor),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

function encodeCursor(at: Date, id: string): string {
  return Buffer.from(`${at.toISOString()}|${id}`).toString('base64url');
}

function decodeCursor(cursor: string): { at: Date; id: string } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const date = new Date(at ?? '');
  if (cursor.length > 200 || id === undefined || Number.isNaN(date.getTime())) {
    throw new InvalidCursorError('cursor is not one this API returned');
  }
  return { at: date, id };
}

/** The columns and parameter values of the fields given (undefined ones left out). */
function columnsOf(fields: Partial<ScheduleFields>): {
  keys: (keyof ScheduleFields)[];
  columns: string[];
  values: unknown[];
} {
  const keys = (Object.keys(COLUMNS) as (keyof ScheduleFields)[]).filter((k) => fields[k] !== undefined);
  return { keys, columns: keys.map((k) => COLUMNS[k]), values: keys.map((k) => param(fields[k])) };
}

/** The first `limit` of `rows` (read with one more) and the cursor of the next page, if any. */
function paged<R>(
  rows: R[],
  limit: number,
  cursorOf: (last: R) => string,
): { rows: R[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { rows: page, nextCursor: rows.length > limit && last !== undefined ? cursorOf(last) : null };
}

const param = (value: unknown): unknown =>
  value instanceof Date
    ? value.toISOString()
    : value !== null && typeof value === 'object'
      ? JSON.stringify(value)
      : value;

/** Schedules (SPEC §11) and their runs, and the evaluator's claims (see docs/architecture.md). */
export class SchedulesRepository {
  private readonly jobs: JobsRepository;

  constructor(private readonly db: DataSource) {
    this.jobs = new JobsRepository(db);
  }

  /** Stores a new schedule and wakes every evaluator; ScheduleNameTaken when the name is used. */
  /**
   * Inserts a schedule; throws ScheduleQuotaExceeded when the tenant has `maxPerTenant` already.
   * The tenant's creates take a transaction-scoped advisory lock first, so concurrent creates
   * count one after another and never pass the cap together.
   */
  async create(
    id: string,
    tenant: string,
    fields: ScheduleFields,
    maxPerTenant = Number.MAX_SAFE_INTEGER,
  ): Promise<ScheduleRow> {
    return this.db.transaction(async (m) => {
      // Two statements: the count's snapshot must be taken after the lock is held (READ COMMITTED).
      await m.query(`SELECT pg_advisory_xact_lock(hashtextextended('switchyard.schedules:' || $1, 0))`, [
        tenant,
      ]);
      const [{ n }]: { n: number }[] = await m.query(
        `SELECT count(*)::int AS n FROM schedules WHERE tenant = $1`,
        [tenant],
      );
      if (n >= maxPerTenant) throw new ScheduleQuotaExceeded(maxPerTenant);
      const { columns, values } = columnsOf(fields);
      const rows: ScheduleRow[] = await translated(() =>
        m.query(
          `INSERT INTO schedules (id, tenant, ${columns.join(', ')})
           VALUES ($1, $2, ${columns.map((_, i) => `$${i + 3}`).join(', ')})
           RETURNING *`,
          [id, tenant, ...values],
        ),
      );
      await notifyChanged(m);
      const row = rows[0];
      if (!row) throw new Error('schedule insert returned no row');
      return row;
    });
  }

  async find(id: string, tenant: string | undefined): Promise<ScheduleRow | null> {
    const rows: ScheduleRow[] = await this.db.query(
      `SELECT * FROM schedules WHERE id = $1 AND ($2::text IS NULL OR tenant = $2)`,
      [id, tenant ?? null],
    );
    return rows[0] ?? null;
  }

  /** Newest first; `tenant` undefined lists every tenant's. */
  async list(query: {
    tenant: string | undefined;
    limit: number;
    cursor?: string;
  }): Promise<{ rows: ScheduleRow[]; nextCursor: string | null }> {
    const after = query.cursor === undefined ? null : decodeCursor(query.cursor);
    const rows: ScheduleRow[] = await this.db.query(
      `SELECT * FROM schedules
       WHERE ($1::text IS NULL OR tenant = $1)
         AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
       ORDER BY created_at DESC, id DESC LIMIT $4`,
      [query.tenant ?? null, after?.at ?? null, after?.id ?? null, query.limit + 1],
    );
    return paged(rows, query.limit, (last) => encodeCursor(last.created_at, last.id));
  }

  /** Deletes a schedule (its runs stay, as jobs); false when there is none for `tenant`. */
  async delete(id: string, tenant: string | undefined): Promise<boolean> {
    return this.db.transaction(async (m) => {
      const [rows]: [{ id: string }[], number] = await m.query(
        `DELETE FROM schedules WHERE id = $1 AND ($2::text IS NULL OR tenant = $2) RETURNING id`,
        [id, tenant ?? null],
      );
      if (rows.length) await notifyChanged(m);
      return rows.length > 0;
    });
  }

  /** A schedule's runs, newest tick first, after `cursor`. */
  async runs(
    scheduleId: string,
    query: { limit: number; cursor?: string },
  ): Promise<{ rows: JobRow[]; nextCursor: string | null }> {
    const before = query.cursor === undefined ? null : decodeCursor(query.cursor);
    const rows: JobRow[] = await this.db.query(
      `SELECT * FROM jobs WHERE schedule_id = $1 AND ($2::timestamptz IS NULL OR scheduled_for < $2)
       ORDER BY scheduled_for DESC LIMIT $3`,
      [scheduleId, before?.at ?? null, query.limit + 1],
    );
    return paged(rows, query.limit, (last) => encodeCursor(last.scheduled_for ?? new Date(0), last.id));
  }

  /** The earliest next tick of any schedule that is not paused (the evaluator's timer). */
  async nextDueAt(): Promise<Date | null> {
    const rows: { at: Date | null }[] = await this.db.query(
      `SELECT min(next_run_at) AS at FROM schedules WHERE NOT paused`,
    );
    return rows[0]?.at ?? null;
  }

  /**
   * Locks one schedule (waiting for another holder) and runs `work` in that transaction; null when
   * there is no such schedule for `tenant` (undefined: any tenant).
   */
  async withLocked<T>(
    id: string,
    tenant: string | undefined,
    work: (row: ScheduleRow, tx: ScheduleTx) => Promise<T>,
  ): Promise<{ result: T } | null> {
    return this.db.transaction(async (m) => {
      const rows: ScheduleRow[] = await m.query(
        `SELECT * FROM schedules WHERE id = $1 AND ($2::text IS NULL OR tenant = $2) FOR UPDATE`,
        [id, tenant ?? null],
      );
      const row = rows[0];
      if (!row) return null;
      return { result: await work(row, this.tx(m)) };
    });
  }

  /**
   * Claims up to `limit` schedules that are not paused — those whose next tick is at or before
   * `now` (`due`), or those holding a buffered tick (`buffered`) — skipping the ones another
   * transaction holds, and runs `work` on them in that transaction. Two evaluators never get the
   * same schedule at once; one that commits moves `next_run_at` on, so the other does not see it due.
   */
  async claim<T>(
    which: 'due' | 'buffered',
    now: Date,
    limit: number,
    work: (rows: ScheduleRow[], tx: ScheduleTx) => Promise<T>,
  ): Promise<T> {
    return this.db.transaction(async (m) => {
      const rows: ScheduleRow[] =
        which === 'due'
          ? await m.query(
              `SELECT * FROM schedules WHERE NOT paused AND next_run_at <= $1
               ORDER BY next_run_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
              [now, limit],
            )
          : await m.query(
              `SELECT * FROM schedules WHERE buffered_for IS NOT NULL AND NOT paused
               ORDER BY buffered_for LIMIT $1 FOR UPDATE SKIP LOCKED`,
              [limit],
            );
      return work(rows, this.tx(m));
    });
  }

  /**
   * LISTENs on SCHEDULES_CHANNEL: `onChanged` when a schedule was created, changed or deleted (and
   * after a reconnect), `onFinished` with the schedule of a run that reached a terminal state.
   */
  listen(onChanged: () => void, onFinished: (scheduleId: string) => void): Promise<() => Promise<void>> {
    return listenOn(
      this.db,
      [SCHEDULES_CHANNEL],
      (_channel, payload) => {
        if (payload?.startsWith('finished:')) onFinished(payload.slice('finished:'.length));
        else onChanged();
      },
      onChanged,
    );
  }

  private tx(m: EntityManager): ScheduleTx {
    return {
      activeRuns: async (scheduleIds) => {
        if (!scheduleIds.length) return [];
        const rows: { id: string; schedule_id: string; status: string }[] = await m.query(
          `SELECT id, schedule_id, status FROM jobs
           WHERE schedule_id = ANY($1::uuid[]) AND status IN ('scheduled','queued','running','retrying')
           ORDER BY scheduled_for`,
          [scheduleIds],
        );
        return rows.map((r) => ({ id: r.id, scheduleId: r.schedule_id, status: r.status }));
      },
      existingTicks: async (scheduleId, ticks) => {
        if (!ticks.length) return new Set();
        const rows: { at: Date }[] = await m.query(
          `SELECT scheduled_for AS at FROM jobs
           WHERE schedule_id = $1 AND scheduled_for = ANY($2::timestamptz[])`,
          [scheduleId, ticks.map((t) => new Date(t).toISOString())],
        );
        return new Set(rows.map((r) => r.at.getTime()));
      },
      insertRuns: (jobs, outbox) => this.jobs.insertJobs(jobs, outbox, m),
      save: async (id, fields) => {
        const { keys, columns, values } = columnsOf(fields);
        const sets = [...columns.map((column, i) => `${column} = $${i + 2}`), 'updated_at = now()'];
        const rows: [ScheduleRow[], number] = await translated(() =>
          m.query(`UPDATE schedules SET ${sets.join(', ')} WHERE id = $1 RETURNING *`, [id, ...values]),
        );
        const row = rows[0][0];
        if (!row) throw new Error(`schedule ${id} was not updated`);
        // A change of the schedule itself re-arms every evaluator's timer; an evaluation moving
        // next_run_at on needs not (the others' timers fire, find nothing due and re-arm).
        if (keys.some((k) => !EVALUATION_FIELDS.has(k))) {
          await notifyChanged(m);
        }
        return row;
      },
    };
  }
}

/** NOTIFY at commit: the evaluators read the earliest next tick again. */
async function notifyChanged(m: EntityManager): Promise<void> {
  await m.query(`SELECT pg_notify($1, 'changed')`, [SCHEDULES_CHANNEL]);
}
