import { Inject, Injectable } from '@nestjs/common';
import { ApiError, type ScheduleRunOutcome } from '@switchyard/contracts';
import type { JobRow, ScheduleRow, ScheduleTx } from '@switchyard/persistence';
import { LOGGER, type Logger } from '../gateway.tokens';
import { JobsService } from '../jobs/jobs.service';
import { SubmissionLimits } from '../jobs/submission.limits';
import { SubmissionValidator, type ValidSubmission } from '../jobs/submission.validator';
import { LifecycleService } from '../lifecycle/lifecycle.service';
import { applyOverlap, jitterOf, type OverlapDecision } from './schedule.ticks';

/** `schedule_runs_total{outcome}` and `schedule_lag_seconds`. */
export interface ScheduleCounters {
  runs(outcome: ScheduleRunOutcome, count: number): void;
  lag(seconds: number): void;
}
export const SCHEDULE_COUNTERS = Symbol('SCHEDULE_COUNTERS');

/** What one evaluation of a locked schedule did, and what follows its commit. */
export interface RunsOutcome {
  decision: OverlapDecision;
  created: JobRow[];
  /** The runs could not be created (the job no longer validates, a quota): the reason. */
  refused: string | null;
  /** To call once the transaction committed: the fast path, events, cancellations, metrics. */
  afterCommit: () => Promise<void>;
}

/**
 * Turns ticks of a locked schedule into runs: the overlap policy, then the same admission as
 * `POST /jobs` — the job validated against its type's schema, the tenant's quotas and the queue's
 * depth — and the same insert (JobsService's rows and `job.queued` events, JobsRepository's
 * statement), in the schedule's transaction. A run's idempotency is its (scheduleId, tick): ticks
 * that already have a run are left out here, and the unique index is the last word.
 */
@Injectable()
export class ScheduleRuns {
  constructor(
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly validator: SubmissionValidator,
    private readonly limits: SubmissionLimits,
    private readonly jobs: JobsService,
    private readonly lifecycle: LifecycleService,
    @Inject(SCHEDULE_COUNTERS) private readonly counters: ScheduleCounters,
  ) {}

  /** The schedule's job as a submission (400 `validation_failed` / `unknown_job_type` if it is not one). */
  submission(job: unknown): ValidSubmission {
    const checked = this.validator.check(job);
    if (!checked.ok) throw checked.error;
    return checked.value;
  }

  /**
   * Applies `overlap` (or `allow`, for a backfill) to `ticks` and creates the runs it keeps.
   * `lagged`: the ticks are the schedule's own (their lateness is schedule_lag_seconds).
   * `rethrow`: a refused run fails the call (trigger, backfill: the caller gets the error) instead
   * of being recorded as the schedule's lastError (the evaluator).
   */
  async run(
    row: ScheduleRow,
    tx: ScheduleTx,
    ticks: readonly number[],
    now: number,
    options: { overlap?: 'allow'; lagged: boolean; rethrow?: boolean },
  ): Promise<RunsOutcome> {
    const active = (await tx.activeRuns([row.id])).map((r) => r.id);
    // A held tick goes first once nothing runs any more.
    let held = row.buffered_for?.getTime() ?? null;
    let all = [...ticks];
    if (held !== null && (active.length === 0 || row.overlap !== 'buffer_one')) {
      all = [held, ...all.filter((t) => t !== held)];
      held = null;
    }
    const decision = applyOverlap(options.overlap ?? row.overlap, active, held, all);
    const existing = await tx.existingTicks(row.id, decision.create);
    const fresh = decision.create.filter((t) => !existing.has(t));
    let created: JobRow[] = [];
    let refused: string | null = null;
    let committed = async () => {};
    if (fresh.length) {
      try {
        const base = this.submission(row.job);
        const items = fresh.map((tick) => {
          const runAt = tick + jitterOf(row.id, tick, row.jitter_ms);
          return { ...base, runAt: runAt > now ? new Date(runAt).toISOString() : null };
        });
        this.limits.assertRoom(await this.limits.counts(row.tenant, items), items);
        const prepared = this.jobs.prepare(
          items,
          row.tenant,
          undefined,
          fresh.map((tick) => ({ scheduleId: row.id, scheduledFor: new Date(tick).toISOString() })),
        );
        const inserted = await tx.insertRuns(prepared.jobs, prepared.outbox);
        created = inserted.rows;
        committed = async () => {
          this.limits.created(row.tenant, created);
          await this.jobs.committed(prepared, inserted.outboxIds);
        };
      } catch (error) {
        if (!(error instanceof ApiError) || options.rethrow) throw error;
        refused = `${error.code}: ${error.message}`;
      }
    }
    return {
      decision,
      created,
      refused,
      afterCommit: async () => {
        await committed();
        const done = Date.now();
        if (created.length) this.counters.runs('created', created.length);
        if (decision.skipped) this.counters.runs('skipped_overlap', decision.skipped);
        // A refused run is a tick that did not run: missed, with the reason on the schedule.
        if (refused !== null) this.counters.runs('missed', fresh.length);
        if (options.lagged)
          for (const job of created)
            this.counters.lag(Math.max(0, done - (job.scheduled_for?.getTime() ?? done)) / 1000);
        for (const id of decision.cancel) await this.cancel(id, row);
        if (refused !== null) {
          this.logger.warn(
            { scheduleId: row.id, tenant: row.tenant, reason: refused },
            'schedule: run refused',
          );
        }
      },
    };
  }

  /** cancel_previous: the existing cancel path (a finished run is left as it is). */
  private async cancel(jobId: string, row: ScheduleRow): Promise<void> {
    try {
      await this.lifecycle.cancel(jobId, row.tenant);
    } catch (error) {
      if (error instanceof ApiError && (error.code === 'not_cancellable' || error.code === 'not_found'))
        return;
      this.logger.warn(
        { err: error, scheduleId: row.id, jobId },
        'schedule: could not cancel the previous run',
      );
    }
  }
}
