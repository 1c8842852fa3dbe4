import { cpuUsage } from 'node:process';
import { USAGE_UNIT } from '@switchyard/contracts';
import type { UsageUnits } from '@switchyard/handler-sdk';
import { detached, type Logger, type WorkerMetrics } from '@switchyard/observability';
import type { UsageEntry, UsageRepository } from '@switchyard/persistence';

const DAY_MS = 86_400_000;

/** Distinct units one attempt may record; more are ignored (the ledger's keys stay bounded). */
export const USAGE_UNITS_MAX = 32;

/** What one attempt used: units summed over its `ctx.usage` calls. */
export class AttemptUsage {
  readonly units = new Map<string, number>();
  private warned = false;

  constructor(private readonly logger: Logger) {}

  add(units: UsageUnits): void {
    if (units === null || typeof units !== 'object') return this.warn('usage is not an object of units');
    for (const [unit, amount] of Object.entries(units)) {
      if (!USAGE_UNIT.test(unit) || typeof amount !== 'number' || !Number.isFinite(amount) || amount < 0) {
        this.warn(`usage ${unit} ignored: a unit is lowercase snake_case with a finite amount ≥ 0`);
        continue;
      }
      if (!this.units.has(unit) && this.units.size >= USAGE_UNITS_MAX) {
        this.warn(`usage ${unit} ignored: at most ${USAGE_UNITS_MAX} units per attempt`);
        continue;
      }
      this.units.set(unit, (this.units.get(unit) ?? 0) + amount);
    }
  }

  private warn(message: string): void {
    if (this.warned) return;
    this.warned = true; // once per attempt: a handler may call usage in a loop
    this.logger.warn(message);
  }
}

/**
 * A reading of the process's CPU time is reused for this long. `process.cpuUsage()` is a system
 * call, and at two per attempt it was ~7 % of a no-op worker's CPU profile; attempts that start
 * and end within the same millisecond share one reading, so an attempt's share is off by at most
 * this much of the process's CPU time at each end.
 */
export const CPU_READING_REUSE_MS = 1;

/**
 * CPU time per attempt when attempts run concurrently in one process: the process's CPU time
 * between two changes of the running set is shared equally by the attempts running then. An
 * attempt's share is the difference of the running total at its end and at its start.
 */
export class CpuMeter {
  private share = 0;
  private running = 0;
  private readAt: number;
  private reading: number;
  private last: number;

  constructor(
    private readonly read: () => number = cpuSeconds,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.readAt = clock();
    this.reading = read();
    this.last = this.reading;
  }

  start(): number {
    this.advance();
    this.running++;
    return this.share;
  }

  end(mark: number): number {
    this.advance();
    this.running = Math.max(0, this.running - 1);
    return this.share - mark;
  }

  private advance(): void {
    const now = this.cpuNow();
    if (this.running > 0) this.share += (now - this.last) / this.running;
    this.last = now;
  }

  private cpuNow(): number {
    const at = this.clock();
    if (at - this.readAt >= CPU_READING_REUSE_MS) {
      this.reading = this.read();
      this.readAt = at;
    }
    return this.reading;
  }
}

function cpuSeconds(): number {
  const { user, system } = cpuUsage();
  return (user + system) / 1e6;
}

/**
 * Sums attempts' usage per UTC day, tenant, type and unit in memory and adds the sums to the
 * ledger (usage_daily) in one statement per `flushMs`, so a busy worker writes a handful of rows
 * a second whatever its job rate. A write that fails is kept and tried again with the next one.
 */
/** An entry with the part of its amount not yet added to the usage counter. */
type LedgerEntry = UsageEntry & { uncounted: number };

export class UsageLedger {
  private entries = new Map<string, LedgerEntry>();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  /** The UTC day of the last record, and the times it covers: the day's text is made once a day. */
  private day = { from: 0, to: 0, text: '' };

  constructor(
    private readonly store: Pick<UsageRepository, 'add'>,
    private readonly metrics: Pick<WorkerMetrics, 'usage'>,
    private readonly logger: Logger,
    private readonly flushMs = 1000,
  ) {}

  record(
    job: { tenant: string; type: string },
    units: ReadonlyMap<string, number>,
    at: Date | number = Date.now(),
  ): void {
    const day = this.dayOf(typeof at === 'number' ? at : at.getTime());
    for (const [unit, amount] of units) {
      const key = `${day}|${job.tenant}|${job.type}|${unit}`;
      const entry = this.entries.get(key);
      if (entry) {
        entry.amount += amount;
        entry.uncounted += amount;
        entry.attempts += 1;
      } else {
        this.entries.set(key, {
          day,
          tenant: job.tenant,
          type: job.type,
          unit,
          amount,
          attempts: 1,
          uncounted: amount,
        });
      }
    }
    // The write serves many attempts: outside the trace of the one that armed the timer.
    this.timer ??= setTimeout(() => void detached(() => this.flush()), this.flushMs);
  }

  private dayOf(ms: number): string {
    if (ms < this.day.from || ms >= this.day.to) {
      const from = Math.floor(ms / DAY_MS) * DAY_MS;
      this.day = { from, to: from + DAY_MS, text: new Date(from).toISOString().slice(0, 10) };
    }
    return this.day.text;
  }

  /** Writes the sums so far (after the write under way). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.entries.size) return this.writing;
    const batch = this.entries;
    this.entries = new Map();
    // Counted once per key and write, not per attempt (label lookups are the cost of a counter).
    for (const entry of batch.values()) {
      if (entry.uncounted > 0)
        this.metrics.usage.inc({ tenant: entry.tenant, unit: entry.unit }, entry.uncounted);
      entry.uncounted = 0;
    }
    this.writing = this.writing.then(async () => {
      try {
        await this.store.add([...batch.values()].map(({ uncounted: _, ...entry }) => entry));
      } catch (error) {
        this.logger.warn(
          { err: error, entries: batch.size },
          'usage could not be written; kept for the next write',
        );
        for (const [key, entry] of batch) {
          const newer = this.entries.get(key);
          if (newer) {
            newer.amount += entry.amount;
            newer.attempts += entry.attempts;
          } else this.entries.set(key, entry);
        }
        this.timer ??= setTimeout(() => void this.flush(), this.flushMs);
      }
    });
    return this.writing;
  }
}
