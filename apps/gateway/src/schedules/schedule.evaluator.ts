import type { Logger } from '@switchyard/observability';
import type { ScheduleRow, SchedulesRepository, ScheduleTx } from '@switchyard/persistence';
import { LogThrottle } from '@switchyard/service-kit';
import type { ScheduleCounters, ScheduleRuns, RunsOutcome } from './schedule.runs';
import { ruleOf, type ScheduleClock } from './schedules.service';
import { planTicks, TickSeries } from './schedule.ticks';

/** The safety tick: what a lost notification or a crashed gateway left behind is picked up by then. */
export const EVALUATOR_SAFETY_MS = 5000;
/** Ticks one schedule turns into runs per transaction (a long catch-up continues in the next). */
const MAX_DUE_TICKS = 1000;
/** Schedules one pass evaluates before it yields (the next pass follows at once). */
const MAX_SCHEDULES_PER_PASS = 500;
/** Schedules holding a buffered tick looked at per safety tick. */
const BUFFERED_SWEEP = 100;
/** The timer never fires sooner than this: a schedule another gateway holds must not make it spin. */
const MIN_DELAY_MS = 25;
/** A failure of the same step is logged at most once per this many ms (a database outage). */
const WARN_EVERY_MS = 10_000;

export type EvaluatorStore = Pick<SchedulesRepository, 'claim' | 'withLocked' | 'nextDueAt' | 'listen'>;

/**
 * Evaluates schedules in every gateway. It sleeps until the earliest `next_run_at` of any schedule
 * that is not paused (one timer, re-armed when a schedule changes: NOTIFY `changed`), then claims
 * the due schedules one transaction each with `FOR UPDATE SKIP LOCKED`, creates their runs and
 * moves `next_run_at` on in that transaction: any number of gateways evaluate each tick once, and a
 * restart neither loses nor repeats a tick. A run reaching a terminal state notifies `finished:<id>`
 * so a buffered tick starts at once; a safety tick covers lost notifications.
 */
export class ScheduleEvaluator {
  private startedAt = Number.POSITIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private safety: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private sweep = false;
  private readonly releasing = new Map<string, Promise<void>>();
  private stopListening: (() => Promise<void>) | undefined;
  private stopped = false;
  private readonly warnings = new LogThrottle(WARN_EVERY_MS);

  constructor(
    private readonly store: EvaluatorStore,
    private readonly runs: Pick<ScheduleRuns, 'run'>,
    private readonly counters: ScheduleCounters,
    private readonly clock: ScheduleClock,
    private readonly logger: Logger,
    private readonly safetyMs = EVALUATOR_SAFETY_MS,
  ) {}

  async start(): Promise<void> {
    this.startedAt = this.clock();
    try {
      this.stopListening = await this.store.listen(
        () => this.wake(false),
        (id) => this.release(id),
      );
    } catch (error) {
      this.logger.warn({ err: error }, 'schedules: LISTEN failed; evaluating on the safety tick only');
    }
    this.safety = setInterval(() => this.wake(true), this.safetyMs);
    this.safety.unref();
    this.wake(true);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.safety);
    clearTimeout(this.timer);
    await this.stopListening?.().catch(() => undefined);
    await Promise.allSettled([this.running, ...this.releasing.values()]);
  }

  /** Evaluates what is due now (kicks during a pass coalesce into one more pass). */
  wake(sweep: boolean): void {
    if (this.stopped) return;
    if (sweep) this.sweep = true;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.passes().finally(() => (this.running = undefined));
  }

  private async passes(): Promise<void> {
    do {
      this.again = false;
      const sweep = this.sweep;
      this.sweep = false;
      await this.step('evaluate', async () => {
        for (let n = 0; n < MAX_SCHEDULES_PER_PASS && !this.stopped; n++) {
          if (!(await this.evaluateOne())) return;
        }
        this.again = true;
      });
      if (sweep) await this.step('buffered', () => this.sweepBuffered());
      await this.step('arm', () => this.arm());
    } while (this.again && !this.stopped);
  }

  /** Claims one due schedule and runs its due ticks; false when none is due. */
  private async evaluateOne(): Promise<boolean> {
    const now = this.clock();
    const done = await this.store.claim('due', new Date(now), 1, async ([row], tx) => {
      if (!row) return null;
      return this.evaluate(row, tx, now);
    });
    if (!done) return false;
    await this.after(done.outcome, done.missed);
    return true;
  }

  private async evaluate(
    row: ScheduleRow,
    tx: ScheduleTx,
    now: number,
  ): Promise<{ outcome: RunsOutcome; missed: number }> {
    const plan = planTicks(
      new TickSeries(ruleOf(row)),
      { nextRunAt: row.next_run_at?.getTime() ?? now, catchupWindowMs: Number(row.catchup_window_ms) },
      now,
      this.startedAt,
      MAX_DUE_TICKS,
    );
    const outcome = await this.runs.run(row, tx, plan.due, now, { lagged: true });
    await tx.save(row.id, {
      nextRunAt: plan.next === null ? null : new Date(plan.next),
      ...savedAfter(outcome),
    });
    return { outcome, missed: plan.missed };
  }

  /** buffer_one: a run of `scheduleId` finished; its held tick runs now if nothing else is active. */
  private release(scheduleId: string): void {
    if (this.stopped || this.releasing.has(scheduleId) || this.releasing.size >= BUFFERED_SWEEP) return;
    const work = this.step('release', async () => {
      const now = this.clock();
      const done = await this.store.withLocked(scheduleId, undefined, async (row, tx) => {
        if (row.paused || row.buffered_for === null) return null;
        const outcome = await this.runs.run(row, tx, [], now, { lagged: false });
        await tx.save(row.id, savedAfter(outcome));
        return outcome;
      });
      if (done?.result) await this.after(done.result, 0);
    }).finally(() => this.releasing.delete(scheduleId));
    this.releasing.set(scheduleId, work);
  }

  /** The safety tick's look at held ticks whose finished notification was lost. */
  private async sweepBuffered(): Promise<void> {
    const now = this.clock();
    const outcomes = await this.store.claim('buffered', new Date(now), BUFFERED_SWEEP, async (rows, tx) => {
      const list: RunsOutcome[] = [];
      for (const row of rows) {
        const outcome = await this.runs.run(row, tx, [], now, { lagged: false });
        if (outcome.created.length) await tx.save(row.id, savedAfter(outcome));
        list.push(outcome);
      }
      return list;
    });
    for (const outcome of outcomes) await this.after(outcome, 0);
  }

  private async after(outcome: RunsOutcome, missed: number): Promise<void> {
    if (missed) this.counters.runs('missed', missed);
    await outcome.afterCommit();
  }

  /** The timer at the earliest next tick, at most a safety tick away. */
  private async arm(): Promise<void> {
    const next = await this.store.nextDueAt();
    if (this.stopped) return;
    clearTimeout(this.timer);
    const delay = next === null ? this.safetyMs : next.getTime() - this.clock();
    this.timer = setTimeout(() => this.wake(false), Math.min(this.safetyMs, Math.max(MIN_DELAY_MS, delay)));
    this.timer.unref();
  }

  /** Runs one step; a failure is logged once per WARN_EVERY_MS per step (a database outage). */
  private step(name: string, run: () => Promise<void>): Promise<void> {
    return run().catch((error: unknown) => {
      if (!this.warnings.allow(name)) return;
      this.logger.warn({ err: error, step: name }, 'schedules: a step failed; the next wake-up tries again');
    });
  }
}

/** The schedule fields an evaluation writes besides next_run_at. */
function savedAfter(outcome: RunsOutcome): {
  bufferedFor: Date | null;
  lastRunAt?: Date;
  lastError?: string | null;
} {
  const ticks = outcome.created.map((r) => r.scheduled_for?.getTime() ?? 0);
  return {
    bufferedFor: outcome.decision.bufferedFor === null ? null : new Date(outcome.decision.bufferedFor),
    ...(ticks.length ? { lastRunAt: new Date(Math.max(...ticks)) } : {}),
    ...(outcome.refused !== null ? { lastError: outcome.refused } : ticks.length ? { lastError: null } : {}),
  };
}
