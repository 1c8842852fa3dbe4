import type { DataSource } from 'typeorm';

/**
 * The tables whose rows churn with every job (see the HotTableVacuum migration). Fixed names: they
 * are written into VACUUM statements, which take no parameters.
 */
export const HOT_TABLES = ['jobs', 'outbox'] as const;
export type HotTable = (typeof HOT_TABLES)[number];

/** What PostgreSQL's statistics say about a table since its last vacuum and analyze. */
export interface TableChurn {
  table: HotTable;
  live: number;
  dead: number;
  /** Rows inserted since the last vacuum (the visibility map an index-only scan needs lags them). */
  insertedSinceVacuum: number;
  modifiedSinceAnalyze: number;
  /**
   * The rows the planner's statistics last counted (`pg_class.reltuples`, set by the last VACUUM or
   * ANALYZE; -1 before the first): what the cached generic plans of the table were made for.
   */
  planned: number;
}

/** VACUUM and ANALYZE of the hot tables, for the gateways' table maintenance. */
export class MaintenanceRepository {
  constructor(private readonly db: DataSource) {}

  /** Whether this connection's role may vacuum every hot table (it owns them, or is a superuser). */
  async mayVacuum(): Promise<boolean> {
    const rows: { n: number }[] = await this.db.query(
      `SELECT count(*)::int AS n FROM pg_class c
       WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY ($1::text[])
         AND (pg_has_role(current_user, c.relowner, 'USAGE')
              OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user))`,
      [HOT_TABLES],
    );
    return rows[0]?.n === HOT_TABLES.length;
  }

  /**
   * The hot tables' counters from the cumulative statistics (a view over shared memory: no table
   * is read; backends publish their counts within a second or so of a commit).
   */
  async churn(): Promise<TableChurn[]> {
    const rows: {
      relname: HotTable;
      live: string;
      dead: string;
      ins: string;
      mod: string;
      planned: number;
    }[] = await this.db.query(
      `SELECT s.relname, s.n_live_tup AS live, s.n_dead_tup AS dead, s.n_ins_since_vacuum AS ins,
           s.n_mod_since_analyze AS mod, c.reltuples::float8 AS planned
         FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
         WHERE s.schemaname = current_schema() AND s.relname = ANY ($1::text[])`,
      [HOT_TABLES],
    );
    return rows.map((r) => ({
      table: r.relname,
      live: Number(r.live),
      dead: Number(r.dead),
      insertedSinceVacuum: Number(r.ins),
      modifiedSinceAnalyze: Number(r.mod),
      planned: Number(r.planned),
    }));
  }

  /**
   * VACUUM (and ANALYZE) of one hot table. SKIP_LOCKED: another gateway's vacuum of it is under
   * way, so this one returns at once. TRUNCATE false: giving the table's empty end back to the
   * file system needs an exclusive lock, which would stall every statement on a busy table behind it.
   */
  async vacuum(table: HotTable, analyze: boolean): Promise<void> {
    if (!HOT_TABLES.includes(table)) throw new Error(`not a hot table: ${String(table)}`);
    await this.db.query(`VACUUM (SKIP_LOCKED, TRUNCATE false${analyze ? ', ANALYZE' : ''}) ${table}`);
  }
}
