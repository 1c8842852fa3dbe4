import { randomUUID } from 'node:crypto';
import {
  ApiError,
  isUuid,
  SCHEDULE_LIMITS,
  type ApiErrorDetail,
  type JobSummary,
  type ScheduleBackfillResult,
  type ScheduleCreate,
  type SchedulePatch,
  type ScheduleTriggerResult,
  type ScheduleView,
} from '@switchyard/contracts';
import {
  InvalidCursorError,
  ScheduleNameTaken,
  ScheduleQuotaExceeded,
  SchedulesRepository,
  scheduleFieldsOf,
  toScheduleView,
  type ScheduleFields,
  type ScheduleRow,
} from '@switchyard/persistence';
import { JobTypeCatalog } from '../job-types/job-type.catalog';
import { JobsService } from '../jobs/jobs.service';
import { WebhookTargets } from '../webhooks/webhook-targets';
import { ScheduleRuns } from './schedule.runs';
import { cronProblem, isTimeZone, TickSeries, type TickRule } from './schedule.ticks';

/** The clock schedules read (tests drive their own). */
export const SCHEDULE_CLOCK = Symbol('SCHEDULE_CLOCK');
export type ScheduleClock = () => number;

/** The tick rule of a stored schedule. */
export function ruleOf(row: ScheduleRow): TickRule {
  return {
    cron: row.cron,
    everyMs: row.every_ms === null ? null : Number(row.every_ms),
    timezone: row.timezone,
    startAt: row.start_at?.getTime() ?? null,
    endAt: row.end_at?.getTime() ?? null,
  };
}

/** The tick rule of schedule fields about to be stored. */
function ruleOfFields(fields: ScheduleFields): TickRule {
  return {
    cron: fields.cron,
    everyMs: fields.everyMs,
    timezone: fields.timezone,
    startAt: fields.startAt?.getTime() ?? null,
    endAt: fields.endAt?.getTime() ?? null,
  };
}

const notFound = (id: string) => new ApiError('not_found', `schedule ${id} not found`);

/**
 * Schedules (SPEC §11): the resource, pause and resume, trigger and backfill. The evaluator
 * (ScheduleEvaluator) runs the ticks; both create runs through ScheduleRuns.
 */
export class SchedulesService {
  constructor(
    private readonly repository: SchedulesRepository,
    private readonly runs: ScheduleRuns,
    private readonly catalog: JobTypeCatalog,
    private readonly jobs: JobsService,
    private readonly webhookTargets: Pick<WebhookTargets, 'check'>,
    private readonly clock: ScheduleClock,
    /** TENANT_MAX_SCHEDULES. */
    private readonly maxPerTenant: number,
  ) {}

  async create(tenant: string, body: ScheduleCreate): Promise<ScheduleView> {
    const fields: ScheduleFields = {
      name: body.name,
      cron: body.cron ?? null,
      everyMs: body.everyMs ?? null,
      timezone: body.timezone ?? 'UTC',
      job: body.job,
      overlap: body.overlap ?? 'skip',
      catchupWindowMs: body.catchupWindowMs ?? SCHEDULE_LIMITS.defaultCatchupWindowMs,
      jitterMs: body.jitterMs ?? 0,
      startAt: body.startAt === undefined ? null : new Date(body.startAt),
      endAt: body.endAt === undefined ? null : new Date(body.endAt),
      paused: body.paused ?? false,
      note: body.note ?? null,
      nextRunAt: null,
      bufferedFor: null,
      lastRunAt: null,
      lastError: null,
    };
    await this.check(tenant, fields);
    fields.nextRunAt = this.nextTick(fields);
    try {
      return toScheduleView(await this.repository.create(randomUUID(), tenant, fields, this.maxPerTenant));
    } catch (error) {
      if (error instanceof ScheduleQuotaExceeded) {
        // Not a rate: only deleting a schedule makes room, so no Retry-After.
        throw new ApiError('tenant_quota_exceeded', error.message);
      }
      throw nameTaken(error, fields.name);
    }
  }

  async get(id: string, tenant: string | undefined): Promise<ScheduleView> {
    return toScheduleView(await this.find(id, tenant));
  }

  async list(
    tenant: string | undefined,
    limit: number,
    cursor: string | undefined,
  ): Promise<{ items: ScheduleView[]; nextCursor: string | null }> {
    const { rows, nextCursor } = await withCursor(() => this.repository.list({ tenant, limit, cursor }));
    return { items: rows.map(toScheduleView), nextCursor };
  }

  /** Changes the fields given; a change of when it ticks starts again from the next tick after now. */
  async patch(id: string, tenant: string | undefined, body: SchedulePatch): Promise<ScheduleView> {
    this.assertId(id);
    const done = await this.repository.withLocked(id, tenant, async (row, tx) => {
      const fields = scheduleFieldsOf(row);
      if (body.cron !== undefined) {
        fields.cron = body.cron;
        fields.everyMs = null;
      }
      if (body.everyMs !== undefined) {
        fields.everyMs = body.everyMs;
        fields.cron = null;
      }
      if (body.cron !== undefined && body.everyMs !== undefined) {
        throw invalid([{ field: 'everyMs', message: 'give cron or everyMs, not both' }]);
      }
      if (body.name !== undefined) fields.name = body.name;
      if (body.timezone !== undefined) fields.timezone = body.timezone;
      if (body.job !== undefined) fields.job = body.job;
      if (body.overlap !== undefined) fields.overlap = body.overlap;
      if (body.catchupWindowMs !== undefined) fields.catchupWindowMs = body.catchupWindowMs;
      if (body.jitterMs !== undefined) fields.jitterMs = body.jitterMs;
      if (body.startAt !== undefined) fields.startAt = body.startAt === null ? null : new Date(body.startAt);
      if (body.endAt !== undefined) fields.endAt = body.endAt === null ? null : new Date(body.endAt);
      if (body.note !== undefined) fields.note = body.note;
      await this.check(row.tenant, fields);
      const timing = ['cron', 'everyMs', 'timezone', 'startAt', 'endAt'] as const;
      if (timing.some((k) => body[k] !== undefined)) fields.nextRunAt = this.nextTick(fields);
      // A held tick belongs to buffer_one.
      if (fields.overlap !== 'buffer_one') fields.bufferedFor = null;
      try {
        return await tx.save(row.id, fields);
      } catch (error) {
        throw nameTaken(error, fields.name);
      }
    });
    if (!done) throw notFound(id);
    return toScheduleView(done.result);
  }

  async delete(id: string, tenant: string | undefined): Promise<void> {
    if (!isUuid(id) || !(await this.repository.delete(id, tenant))) throw notFound(id);
  }

  /** Pause: no new runs (running ones finish; a held tick is dropped). */
  async pause(id: string, tenant: string | undefined, note: string | undefined): Promise<ScheduleView> {
    return this.change(id, tenant, () => ({
      paused: true,
      bufferedFor: null,
      ...(note === undefined ? {} : { note }),
    }));
  }

  /** Resume: ticks again from the next tick after now (the ticks of the pause are not run). */
  async resume(id: string, tenant: string | undefined, note: string | undefined): Promise<ScheduleView> {
    return this.change(id, tenant, (row) => ({
      paused: false,
      nextRunAt: row.paused ? this.nextTick(scheduleFieldsOf(row)) : row.next_run_at,
      ...(note === undefined ? {} : { note }),
    }));
  }

  /** One run now, as the overlap policy allows (the tick is now). */
  async trigger(id: string, tenant: string | undefined): Promise<ScheduleTriggerResult> {
    this.assertId(id);
    const now = this.clock();
    const done = await this.repository.withLocked(id, tenant, async (row, tx) => {
      await this.catalog.ensureKnown([row.job.type]);
      const outcome = await this.runs.run(row, tx, [now], now, { lagged: false, rethrow: true });
      const job = outcome.created.find((r) => r.scheduled_for?.getTime() === now);
      await tx.save(row.id, {
        bufferedFor: outcome.decision.bufferedFor === null ? null : new Date(outcome.decision.bufferedFor),
        ...(outcome.created.length ? { lastRunAt: new Date(Math.max(...outcome.decision.create)) } : {}),
      });
      return { outcome, job };
    });
    if (!done) throw notFound(id);
    const { outcome, job } = done.result;
    await outcome.afterCommit();
    return {
      outcome: job ? 'created' : outcome.decision.bufferedFor === now ? 'buffered' : 'skipped_overlap',
      scheduledFor: new Date(now).toISOString(),
      jobId: job?.id ?? null,
    };
  }

  /** A run for every tick in [from, to] that has none yet, whatever the overlap policy. */
  async backfill(
    id: string,
    tenant: string | undefined,
    range: { from: string; to: string },
  ): Promise<ScheduleBackfillResult> {
    this.assertId(id);
    const from = new Date(range.from).getTime();
    const to = new Date(range.to).getTime();
    if (to < from) throw invalid([{ field: 'to', message: 'must not be before from' }]);
    const now = this.clock();
    const done = await this.repository.withLocked(id, tenant, async (row, tx) => {
      const max = SCHEDULE_LIMITS.backfillTicksMax;
      const ticks = new TickSeries({ ...ruleOf(row), startAt: null, endAt: null }).between(from, to, max);
      if (ticks.length > max) {
        throw invalid([
          { field: 'to', message: `the range holds more than ${max} ticks; backfill it in parts` },
        ]);
      }
      await this.catalog.ensureKnown([row.job.type]);
      const outcome = await this.runs.run(row, tx, ticks, now, {
        overlap: 'allow',
        lagged: false,
        rethrow: true,
      });
      return { outcome, ticks: ticks.length };
    });
    if (!done) throw notFound(id);
    const { outcome, ticks } = done.result;
    await outcome.afterCommit();
    return { ticks, created: outcome.created.length, existing: ticks - outcome.created.length };
  }

  /** The runs of a schedule, newest tick first. */
  async runsOf(
    id: string,
    tenant: string | undefined,
    limit: number,
    cursor: string | undefined,
  ): Promise<{ items: JobSummary[]; nextCursor: string | null }> {
    const row = await this.find(id, tenant);
    const { rows, nextCursor } = await withCursor(() => this.repository.runs(row.id, { limit, cursor }));
    return {
      items: rows.map((r): JobSummary => {
        const { payload: _payload, result: _result, ...summary } = this.jobs.view(r);
        return summary;
      }),
      nextCursor,
    };
  }

  private async find(id: string, tenant: string | undefined): Promise<ScheduleRow> {
    const row = isUuid(id) ? await this.repository.find(id, tenant) : null;
    if (!row) throw notFound(id);
    return row;
  }

  private assertId(id: string): void {
    if (!isUuid(id)) throw notFound(id);
  }

  private async change(
    id: string,
    tenant: string | undefined,
    fields: (row: ScheduleRow) => Partial<ScheduleFields>,
  ): Promise<ScheduleView> {
    if (!isUuid(id)) throw notFound(id);
    const done = await this.repository.withLocked(id, tenant, (row, tx) => tx.save(row.id, fields(row)));
    if (!done) throw notFound(id);
    return toScheduleView(done.result);
  }

  /**
   * The whole schedule checked: cron or everyMs, the zone, the time bounds, the job — as `POST /jobs`
   * checks a submission, its `webhookUrl` included (the origin of one of the tenant's enabled
   * webhook endpoints).
   */
  private async check(tenant: string, fields: ScheduleFields): Promise<void> {
    const details: ApiErrorDetail[] = [];
    if ((fields.cron === null) === (fields.everyMs === null)) {
      details.push({ field: 'cron', message: 'give exactly one of cron and everyMs' });
    }
    if (!isTimeZone(fields.timezone)) {
      details.push({ field: 'timezone', message: `${fields.timezone} is not an IANA time zone` });
    } else if (fields.cron !== null) {
      const problem = cronProblem(fields.cron, fields.timezone);
      if (problem !== null) details.push({ field: 'cron', message: problem });
    }
    if (fields.startAt && fields.endAt && fields.endAt < fields.startAt) {
      details.push({ field: 'endAt', message: 'must not be before startAt' });
    }
    if (details.length) throw invalid(details);
    await this.catalog.ensureKnown([fields.job.type]);
    try {
      const submission = this.runs.submission(fields.job);
      if (submission.webhookUrl) await this.webhookTargets.check(tenant, [{ url: submission.webhookUrl }]);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      throw new ApiError(
        error.code,
        `the schedule's job is not a valid submission: ${error.message}`,
        error.details.map((d) => ({ ...d, field: `job.${d.field}` })),
      );
    }
  }

  private nextTick(fields: ScheduleFields): Date | null {
    const next = new TickSeries(ruleOfFields(fields)).next(this.clock());
    return next === null ? null : new Date(next);
  }
}

function invalid(details: ApiErrorDetail[]): ApiError {
  return new ApiError('validation_failed', 'the schedule is not valid', details);
}

function nameTaken(error: unknown, name: string): unknown {
  if (!(error instanceof ScheduleNameTaken)) return error;
  return invalid([
    { field: 'name', message: `the tenant already has a schedule named ${JSON.stringify(name)}` },
  ]);
}

/** A page read, with a cursor this API did not hand out answered 400. */
function withCursor<T>(read: () => Promise<T>): Promise<T> {
  return read().catch((error: unknown) => {
    if (!(error instanceof InvalidCursorError)) throw error;
    throw new ApiError('validation_failed', error.message, [{ field: 'cursor', message: error.message }]);
  });
}
