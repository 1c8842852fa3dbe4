import { createHash } from 'node:crypto';
import { Cron } from 'croner';

/** When a schedule ticks: a cron expression read in an IANA zone, or a fixed interval. */
export interface TickRule {
  cron: string | null;
  everyMs: number | null;
  timezone: string;
  /** No tick before this (epoch ms). */
  startAt: number | null;
  /** No tick after this (epoch ms). */
  endAt: number | null;
}

/** Cron aliases croner reads (`@hourly`-style). */
const ALIASES = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);

/**
 * How late a tick of a running evaluator may be evaluated and still run when it falls outside the
 * catch-up window: a tick due after this evaluator started was missed by nobody, only delayed (a
 * busy event loop, a lock held by a trigger). Ticks older than this follow catchupWindowMs.
 */
export const ON_TIME_MS = 5000;
/** Most missed cron ticks counted one by one in one evaluation (intervals are counted exactly). */
export const MISSED_COUNT_MAX = 1000;

/** Why a cron expression or time zone is refused, or null when it is usable. */
export function cronProblem(cron: string, timezone: string): string | null {
  const trimmed = cron.trim();
  if (trimmed.startsWith('@')) {
    if (!ALIASES.has(trimmed.toLowerCase()))
      return `unknown alias ${trimmed} (use ${[...ALIASES].join(', ')})`;
  } else {
    const fields = trimmed.split(/\s+/).length;
    if (fields !== 5 && fields !== 6) return `has ${fields} fields; use 5 (minute first) or 6 (second first)`;
  }
  try {
    const next = new Cron(trimmed, { timezone, paused: true }).nextRun();
    if (next === null) return 'never matches a date';
  } catch (error) {
    return error instanceof Error ? (error.message.split('. ')[0] ?? 'is invalid') : 'is invalid';
  }
  return null;
}

/** Whether `timezone` is an IANA zone this runtime knows. */
export function isTimeZone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/**
 * The ticks of one rule. Cron ticks come from croner in the rule's zone, which decides the
 * daylight-saving cases (docs/api.md, "Schedules"): a local time that does not exist on the
 * spring-forward day (02:30 in Europe/Berlin) runs once at the first valid time after it (03:00);
 * a local time that occurs twice on the fall-back day runs once, at its first occurrence.
 * Interval ticks are multiples of `everyMs` since the Unix epoch, whatever the zone.
 */
export class TickSeries {
  private readonly cron: Cron | null;

  constructor(private readonly rule: TickRule) {
    this.cron =
      rule.cron === null ? null : new Cron(rule.cron.trim(), { timezone: rule.timezone, paused: true });
  }

  /** The first tick strictly after `after` (epoch ms), or null when none comes before endAt. */
  next(after: number): number | null {
    const { startAt, endAt, everyMs } = this.rule;
    const from = startAt !== null && after < startAt ? startAt - 1 : after;
    let tick: number;
    if (everyMs !== null) {
      tick = (Math.floor(from / everyMs) + 1) * everyMs;
    } else {
      const next = this.cron?.nextRun(new Date(from)) ?? null;
      if (next === null) return null;
      tick = next.getTime();
    }
    return endAt !== null && tick > endAt ? null : tick;
  }

  /** Ticks in [from, to], at most `max` + 1 (one more than allowed tells the caller there are too many). */
  between(from: number, to: number, max: number): number[] {
    const ticks: number[] = [];
    for (let t = this.next(from - 1); t !== null && t <= to && ticks.length <= max; t = this.next(t))
      ticks.push(t);
    return ticks;
  }

  /**
   * Missed ticks in [from, before): counted exactly for intervals, one by one up to
   * MISSED_COUNT_MAX for cron. Returns the count and the first tick at or after `before` (or null).
   */
  skip(from: number, before: number): { missed: number; next: number | null } {
    const { everyMs, endAt } = this.rule;
    if (everyMs !== null) {
      const last = Math.min(before - 1, endAt ?? Number.POSITIVE_INFINITY);
      const missed = last < from ? 0 : Math.floor((last - from) / everyMs) + 1;
      return { missed, next: this.next(before - 1) };
    }
    let missed = 0;
    let t: number | null = from;
    while (t !== null && t < before && missed < MISSED_COUNT_MAX) {
      missed++;
      t = this.next(t);
    }
    return { missed, next: t !== null && t < before ? this.next(before - 1) : t };
  }
}

export interface TickPlan {
  /** Ticks to evaluate now (each becomes a run unless the overlap policy says otherwise). */
  due: number[];
  /** Ticks older than the catch-up window: not run, counted. */
  missed: number;
  /** The first tick not handled yet (the new next_run_at); null when the schedule has ended. */
  next: number | null;
}

/**
 * What an evaluation at `now` does with a schedule whose next unevaluated tick is `nextRunAt`: a
 * tick runs when it is less than `catchupWindowMs` old, or when it came after this evaluator started
 * (`startedAt`) and is at most ON_TIME_MS old; the older ones are missed. At most `max` due ticks
 * per call: the rest stay due for the next pass.
 */
export function planTicks(
  series: TickSeries,
  state: { nextRunAt: number; catchupWindowMs: number },
  now: number,
  startedAt: number,
  max: number,
): TickPlan {
  // A tick runs when it is younger than the window, or on time for this evaluator.
  const cut = Math.min(now - state.catchupWindowMs + 1, Math.max(startedAt, now - ON_TIME_MS));
  let missed = 0;
  let t: number | null = state.nextRunAt;
  if (t < cut) {
    const skipped = series.skip(t, cut);
    missed = skipped.missed;
    t = skipped.next;
  }
  const due: number[] = [];
  while (t !== null && t <= now && due.length < max) {
    due.push(t);
    t = series.next(t);
  }
  return { due, missed, next: t };
}

/**
 * The delay of one run after its tick, in [0, jitterMs]: derived from the schedule and the tick, so
 * every evaluator (and a retry of the same evaluation) picks the same one.
 */
export function jitterOf(scheduleId: string, tick: number, jitterMs: number): number {
  if (jitterMs <= 0) return 0;
  const digest = createHash('sha256').update(`${scheduleId}|${tick}`).digest();
  return digest.readUIntBE(0, 6) % (jitterMs + 1);
}

export type Overlap = 'skip' | 'buffer_one' | 'allow' | 'cancel_previous';

export interface OverlapDecision {
  /** Ticks that become runs. */
  create: number[];
  /** Ticks dropped because an earlier run was not finished. */
  skipped: number;
  /** buffer_one: the tick held until the active run finishes (null: none). */
  bufferedFor: number | null;
  /** cancel_previous: the active runs to cancel once the new run is committed. */
  cancel: string[];
}

/**
 * The overlap policy applied to the ticks of one evaluation, in order, given the schedule's
 * unfinished runs (`active`) and the tick it may already hold (`bufferedFor`):
 * `allow` runs every tick; `skip` drops a tick while a run is unfinished; `buffer_one` holds the
 * first such tick until the run finishes and drops the rest; `cancel_previous` cancels the
 * unfinished runs and runs the newest tick only (an older tick of the same pass would be
 * cancelled at once).
 */
export function applyOverlap(
  overlap: Overlap,
  active: readonly string[],
  bufferedFor: number | null,
  ticks: readonly number[],
): OverlapDecision {
  const decision: OverlapDecision = { create: [], skipped: 0, bufferedFor, cancel: [] };
  if (!ticks.length) return decision;
  switch (overlap) {
    case 'allow':
      decision.create = [...ticks];
      return decision;
    case 'cancel_previous':
      decision.create = [ticks[ticks.length - 1] ?? 0];
      decision.skipped = ticks.length - 1;
      decision.cancel = [...active];
      return decision;
    case 'skip':
    case 'buffer_one': {
      let busy = active.length > 0 || bufferedFor !== null;
      for (const tick of ticks) {
        if (!busy) {
          decision.create.push(tick);
          busy = true;
        } else if (overlap === 'buffer_one' && decision.bufferedFor === null) {
          decision.bufferedFor = tick;
        } else {
          decision.skipped++;
        }
      }
      return decision;
    }
  }
}
