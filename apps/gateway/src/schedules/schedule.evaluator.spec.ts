import pino from 'pino';
import type { JobRow, ScheduleFields, ScheduleRow, ScheduleTx } from '@switchyard/persistence';
import { ScheduleEvaluator, type EvaluatorStore } from './schedule.evaluator';
import type { RunsOutcome, ScheduleCounters, ScheduleRuns } from './schedule.runs';

// The evaluator over a fake clock (jest's timers and Date) and a fake store that keeps schedules
// in memory as the repository does: `claim('due')` hands out the schedules whose next tick is
// at or before now, and what the evaluator saves is what the next claim reads.

const T0 = Date.parse('2026-06-01T00:00:00.500Z');
/** Far above every delay here: a wake-up before a tick can only come from the timer. */
const SAFETY_MS = 600_000;

function scheduleRow(id: string, everyMs: number, nextRunAt: number, catchupWindowMs = 60_000): ScheduleRow {
  return {
    id,
    tenant: 'alpha',
    name: id,
    cron: null,
    every_ms: String(everyMs),
    timezone: 'UTC',
    job: { type: 'synthetic', payload: {} },
    overlap: 'allow',
    catchup_window_ms: String(catchupWindowMs),
    jitter_ms: 0,
    start_at: null,
    end_at: null,
    paused: false,
    note: null,
    next_run_at: new Date(nextRunAt),
    buffered_for: null,
    last_run_at: null,
    last_error: null,
    created_at: new Date(T0),
    updated_at: new Date(T0),
  };
}

/** The first multiple of `everyMs` after `after`, as an interval schedule ticks. */
const nextTick = (everyMs: number, after: number) => (Math.floor(after / everyMs) + 1) * everyMs;

class FakeStore implements EvaluatorStore {
  readonly rows = new Map<string, ScheduleRow>();
  /** When (fake time) each `claim('due')` was made. */
  readonly dueClaims: number[] = [];

  add(row: ScheduleRow): void {
    this.rows.set(row.id, row);
  }

  private tx(): ScheduleTx {
    return {
      activeRuns: () => Promise.resolve([]),
      existingTicks: () => Promise.resolve(new Set<number>()),
      insertRuns: () => Promise.resolve({ rows: [], outboxIds: [] }),
      save: (id: string, fields: Partial<ScheduleFields>) => {
        const row = this.rows.get(id);
        if (!row) throw new Error(`no schedule ${id}`);
        if (fields.nextRunAt !== undefined) row.next_run_at = fields.nextRunAt;
        if (fields.bufferedFor !== undefined) row.buffered_for = fields.bufferedFor;
        if (fields.lastRunAt !== undefined) row.last_run_at = fields.lastRunAt;
        return Promise.resolve(row);
      },
    };
  }

  claim<T>(
    which: 'due' | 'buffered',
    now: Date,
    limit: number,
    work: (rows: ScheduleRow[], tx: ScheduleTx) => Promise<T>,
  ): Promise<T> {
    const live = [...this.rows.values()].filter((r) => !r.paused);
    let rows: ScheduleRow[];
    if (which === 'due') {
      this.dueClaims.push(Date.now());
      rows = live
        .filter((r) => r.next_run_at !== null && r.next_run_at <= now)
        .sort((a, b) => (a.next_run_at?.getTime() ?? 0) - (b.next_run_at?.getTime() ?? 0));
    } else {
      rows = live.filter((r) => r.buffered_for !== null);
    }
    return work(rows.slice(0, limit), this.tx());
  }

  withLocked<T>(
    id: string,
    _tenant: string | undefined,
    work: (row: ScheduleRow, tx: ScheduleTx) => Promise<T>,
  ): Promise<{ result: T } | null> {
    const row = this.rows.get(id);
    return row ? work(row, this.tx()).then((result) => ({ result })) : Promise.resolve(null);
  }

  nextDueAt(): Promise<Date | null> {
    const times = [...this.rows.values()]
      .filter((r) => !r.paused && r.next_run_at !== null)
      .map((r) => r.next_run_at?.getTime() ?? 0);
    return Promise.resolve(times.length ? new Date(Math.min(...times)) : null);
  }

  listen(): Promise<() => Promise<void>> {
    return Promise.resolve(() => Promise.resolve());
  }
}

/** Runs as the evaluator hands them over: every due tick becomes a run (overlap `allow`). */
class FakeRuns implements Pick<ScheduleRuns, 'run'> {
  readonly calls: { id: string; ticks: number[]; at: number }[] = [];

  run(row: ScheduleRow, _tx: ScheduleTx, ticks: readonly number[]): Promise<RunsOutcome> {
    this.calls.push({ id: row.id, ticks: [...ticks], at: Date.now() });
    return Promise.resolve({
      decision: { create: [...ticks], skipped: 0, bufferedFor: null, cancel: [] },
      created: ticks.map((t) => ({ scheduled_for: new Date(t), status: 'queued' }) as JobRow),
      refused: null,
      afterCommit: () => Promise.resolve(),
    });
  }

  ticksOf(id: string): number[] {
    return this.calls.filter((c) => c.id === id).flatMap((c) => c.ticks);
  }
}

class FakeCounters implements ScheduleCounters {
  readonly outcomes = new Map<string, number>();
  runs(outcome: string, count: number): void {
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + count);
  }
  lag(): void {}
}

describe('ScheduleEvaluator', () => {
  let store: FakeStore;
  let runs: FakeRuns;
  let counters: FakeCounters;
  const evaluators: ScheduleEvaluator[] = [];

  const evaluator = () => {
    const e = new ScheduleEvaluator(
      store,
      runs,
      counters,
      () => Date.now(),
      pino({ level: 'silent' }),
      SAFETY_MS,
    );
    evaluators.push(e);
    return e;
  };

  beforeEach(() => {
    jest.useFakeTimers({ now: T0 });
    store = new FakeStore();
    runs = new FakeRuns();
    counters = new FakeCounters();
  });

  afterEach(async () => {
    await Promise.all(evaluators.splice(0).map((e) => e.stop()));
    jest.useRealTimers();
  });

  it('sleeps until the earliest next tick of any schedule, with no look in between', async () => {
    const a = nextTick(7000, T0);
    const b = nextTick(11_000, T0);
    expect(a).not.toBe(b);
    store.add(scheduleRow('a', 7000, a));
    store.add(scheduleRow('b', 11_000, b));
    await evaluator().start();
    await jest.advanceTimersByTimeAsync(0);
    // The start looks once; nothing is due.
    expect(store.dueClaims).toEqual([T0]);
    expect(runs.calls).toEqual([]);

    const first = Math.min(a, b);
    await jest.advanceTimersByTimeAsync(first - 1 - Date.now());
    expect(store.dueClaims).toEqual([T0]);
    await jest.advanceTimersByTimeAsync(1);
    // Woken exactly at the tick: the due schedule runs that tick, then one more look finds none.
    expect(runs.calls).toEqual([{ id: first === a ? 'a' : 'b', ticks: [first], at: first }]);
    expect(store.dueClaims).toEqual([T0, first, first]);

    // And so on, one wake-up per tick of either schedule.
    await jest.advanceTimersByTimeAsync(40_000);
    const wakeUps = new Set(store.dueClaims.slice(1));
    const expected = [...new Set([...runs.ticksOf('a'), ...runs.ticksOf('b')])].sort((x, y) => x - y);
    expect([...wakeUps]).toEqual(expected);
    expect(runs.ticksOf('a')).toEqual([a, a + 7000, a + 14_000, a + 21_000, a + 28_000, a + 35_000]);
    expect(runs.ticksOf('b')).toEqual([b, b + 11_000, b + 22_000, b + 33_000].filter((t) => t <= Date.now()));
    for (const call of runs.calls) expect(call.at).toBe(call.ticks[0]);
  });

  it('claims the due ticks of each schedule, inside its catch-up window, and counts the older ones missed', async () => {
    // Down since before three ticks: a 60 s window runs them; a window of 0 counts them missed.
    const since = nextTick(1000, T0 - 3500);
    store.add(scheduleRow('window', 1000, since));
    store.add(scheduleRow('none', 1000, since, 0));
    await evaluator().start();
    await jest.advanceTimersByTimeAsync(0);
    expect(runs.ticksOf('window')).toEqual([since, since + 1000, since + 2000]);
    expect(runs.ticksOf('none')).toEqual([]);
    expect(counters.outcomes.get('missed')).toBe(3);
    // Both move on to the first tick after now.
    expect(store.rows.get('window')?.next_run_at?.getTime()).toBe(nextTick(1000, T0));
    expect(store.rows.get('none')?.next_run_at?.getTime()).toBe(nextTick(1000, T0));
    await jest.advanceTimersByTimeAsync(nextTick(1000, T0) - Date.now());
    expect(runs.ticksOf('none')).toEqual([nextTick(1000, T0)]);
  });

  it('after a restart continues from the stored next tick: no tick lost, none repeated', async () => {
    const first = nextTick(1000, T0);
    store.add(scheduleRow('s', 1000, first));
    const before = evaluator();
    await before.start();
    await jest.advanceTimersByTimeAsync(3200);
    expect(runs.ticksOf('s')).toEqual([first, first + 1000, first + 2000]);
    await before.stop();
    const stored = store.rows.get('s')?.next_run_at?.getTime();
    expect(stored).toBe(first + 3000);

    // Down for 2.5 s: no evaluation at all.
    const calls = runs.calls.length;
    await jest.advanceTimersByTimeAsync(2500);
    expect(runs.calls.length).toBe(calls);

    await evaluator().start();
    await jest.advanceTimersByTimeAsync(0);
    const [resumed] = runs.calls.slice(calls);
    expect(resumed?.ticks[0]).toBe(stored);
    expect(resumed?.ticks).toEqual([first + 3000, first + 4000, first + 5000]);
    await jest.advanceTimersByTimeAsync(2000);
    const ticks = runs.ticksOf('s');
    expect(ticks).toEqual(Array.from({ length: ticks.length }, (_, i) => first + i * 1000));
    expect(ticks.length).toBe(8);
    expect(counters.outcomes.get('missed') ?? 0).toBe(0);
  });
});
