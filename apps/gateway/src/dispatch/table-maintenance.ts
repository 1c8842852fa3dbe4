import type { Logger } from '@switchyard/observability';
import type { HotTable, MaintenanceRepository, TableChurn } from '@switchyard/persistence';
import { LogThrottle } from '@switchyard/service-kit';

/**
 * How often the hot tables' statistics are read (a view over shared memory: no table is read): as
 * often as backends publish their counts (about once a second), so a growing table is re-analyzed soon.
 */
export const MAINTENANCE_CHECK_MS = 1000;
/** Least time between two vacuums of one table by this process, however fast rows die. */
export const MIN_VACUUM_INTERVAL_MS = 2000;
/** The part of a table's live rows added to VACUUM_DEAD_ROWS (as autovacuum's scale factor). */
export const VACUUM_SCALE = 0.02;
/** An analyze joins the vacuum once this part of the live rows (plus VACUUM_DEAD_ROWS) changed. */
export const ANALYZE_SCALE = 0.05;
/**
 * An analyze also joins once the live rows passed this multiple of the rows the planner last counted
 * (plus GROWTH_ANALYZE_ROWS): the services' statements run with generic plans (libs/persistence's
 * data source), which PostgreSQL makes from the statistics of the moment and keeps until the
 * table's next VACUUM or ANALYZE. Made while a new table held a few hundred rows, the worker's turn
 * read `jobs` sequentially for seconds after it held thousands (docs/performance.md); re-planning at
 * every doubling bounds that to about twice the table the plan was made for.
 */
export const GROWTH_ANALYZE_FACTOR = 2;
/** The growth below which a table is not re-analyzed for growth alone (small tables plan alike). */
export const GROWTH_ANALYZE_ROWS = 1000;
/** A failing check is logged at most once per this many ms (a database outage). */
const WARN_EVERY_MS = 10_000;

export type MaintenanceStore = Pick<MaintenanceRepository, 'mayVacuum' | 'churn' | 'vacuum'>;

/**
 * What a table's statistics call for: a vacuum (dead or new rows), with an analyze (changed rows,
 * or a table grown past what its plans were made for).
 */
export function maintenanceDue(churn: TableChurn, deadRows: number): { vacuum: boolean; analyze: boolean } {
  const threshold = deadRows + VACUUM_SCALE * churn.live;
  const grown = churn.live > GROWTH_ANALYZE_FACTOR * Math.max(churn.planned, 0) + GROWTH_ANALYZE_ROWS;
  const analyze = grown || churn.modifiedSinceAnalyze > deadRows + ANALYZE_SCALE * churn.live;
  return {
    vacuum: analyze || churn.dead > threshold || churn.insertedSinceVacuum > threshold,
    analyze,
  };
}

/**
 * Vacuums the tables whose rows churn with every job (`jobs`, `outbox`) when their dead rows pass
 * VACUUM_DEAD_ROWS + 2 % of their live rows. The dispatcher reads the backlog indexes from the
 * front, where the entries of released jobs stay until a vacuum removes them, and the queue counts
 * are index-only scans that visit the table for every row added since the last vacuum; PostgreSQL's
 * autovacuum (with the settings of the HotTableVacuum migration) does this where it runs and keeps
 * up, and then this finds nothing to do. Several gateways may run it: a table being vacuumed is
 * skipped (SKIP_LOCKED). Hand-written: a vacuum policy keyed to this schema's own indexes is not
 * something a library offers; it is a timer, a threshold and one statement.
 */
export class TableMaintenance {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly lastVacuum = new Map<HotTable, number>();
  private readonly warnings: LogThrottle;
  private readonly now: () => number;

  constructor(
    private readonly store: MaintenanceStore,
    private readonly options: { deadRows: number; checkMs?: number; now?: () => number },
    private readonly logger: Logger,
    private readonly vacuumed?: (table: HotTable, analyze: boolean, ms: number) => void,
  ) {
    this.now = options.now ?? Date.now;
    this.warnings = new LogThrottle(WARN_EVERY_MS, this.now);
  }

  /** Starts the checks, unless VACUUM_DEAD_ROWS is 0 or the role may not vacuum the tables. */
  async start(): Promise<void> {
    if (this.options.deadRows <= 0) {
      this.logger.info('table maintenance off (VACUUM_DEAD_ROWS=0): autovacuum alone keeps the hot tables');
      return;
    }
    let allowed: boolean;
    try {
      allowed = await this.store.mayVacuum();
    } catch (error) {
      // The database is away at start: the checks find out later (a vacuum refused is logged).
      this.logger.warn(
        { err: error },
        'table maintenance: could not read the tables’ owner; checking anyway',
      );
      allowed = true;
    }
    if (!allowed) {
      this.logger.info('table maintenance off: this role does not own the hot tables; autovacuum keeps them');
      return;
    }
    this.timer = setInterval(() => {
      this.running ??= this.check().finally(() => (this.running = undefined));
    }, this.options.checkMs ?? MAINTENANCE_CHECK_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One check: vacuums (and analyzes) each hot table its statistics call for. */
  async check(): Promise<void> {
    try {
      for (const churn of await this.store.churn()) {
        const due = maintenanceDue(churn, this.options.deadRows);
        const last = this.lastVacuum.get(churn.table) ?? Number.NEGATIVE_INFINITY;
        if (!due.vacuum || this.now() - last < MIN_VACUUM_INTERVAL_MS) continue;
        this.lastVacuum.set(churn.table, this.now());
        const started = performance.now();
        await this.store.vacuum(churn.table, due.analyze);
        const ms = performance.now() - started;
        this.vacuumed?.(churn.table, due.analyze, ms);
        this.logger.debug(
          { ...churn, analyze: due.analyze, ms: Math.round(ms) },
          'table maintenance: vacuumed',
        );
      }
    } catch (error) {
      if (this.warnings.allow())
        this.logger.warn(
          { err: error },
          'table maintenance: check or vacuum failed; the next check tries again',
        );
    }
  }
}
