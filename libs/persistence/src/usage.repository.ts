import type { DataSource } from 'typeorm';
import type { UsageGroup } from '@switchyard/contracts';
import { poolOf } from './pool';

/** Usage of one UTC day, tenant, job type and unit, as the worker sums it before writing. */
export interface UsageEntry {
  day: string;
  tenant: string;
  type: string;
  unit: string;
  amount: number;
  /** Attempts that recorded this unit. */
  attempts: number;
}

export interface UsageRow {
  group: string;
  unit: string;
  amount: number;
  attempts: number;
}

const GROUP_COLUMN: Record<UsageGroup, string> = {
  tenant: 'tenant',
  type: 'type',
  day: `to_char(day, 'YYYY-MM-DD')`,
};

/**
 * The usage ledger: sums per UTC day, tenant, job type and unit (`numeric`, so sums are exact).
 * Workers add to it in batches; rows are never purged with jobs.
 */
export class UsageRepository {
  constructor(private readonly db: DataSource) {}

  /** Adds entries (one statement; each key once, as the caller summed them). */
  async add(entries: readonly UsageEntry[]): Promise<void> {
    if (!entries.length) return;
    // Sorted, so concurrent workers lock shared rows in the same order.
    const sorted = [...entries].sort((a, b) =>
      `${a.day}|${a.tenant}|${a.type}|${a.unit}` < `${b.day}|${b.tenant}|${b.type}|${b.unit}` ? -1 : 1,
    );
    await poolOf(this.db).query({
      text: `INSERT INTO usage_daily (day, tenant, type, unit, amount, jobs)
        SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::bigint[])
        ON CONFLICT (day, tenant, type, unit)
        DO UPDATE SET amount = usage_daily.amount + excluded.amount, jobs = usage_daily.jobs + excluded.jobs`,
      values: [
        sorted.map((e) => e.day),
        sorted.map((e) => e.tenant),
        sorted.map((e) => e.type),
        sorted.map((e) => e.unit),
        sorted.map((e) => String(e.amount)),
        sorted.map((e) => e.attempts),
      ],
    });
  }

  /** Sums per group and unit over the days `from`..`to` (inclusive), of `tenant` only when given. */
  async report(groupBy: UsageGroup, from: string, to: string, tenant?: string): Promise<UsageRow[]> {
    const group = GROUP_COLUMN[groupBy];
    const rows: { grp: string; unit: string; amount: string; attempts: string }[] = await this.db.query(
      `SELECT ${group} AS grp, unit, sum(amount)::text AS amount, sum(jobs)::text AS attempts
       FROM usage_daily
       WHERE day BETWEEN $1::date AND $2::date AND ($3::text IS NULL OR tenant = $3)
       GROUP BY 1, 2 ORDER BY 1, 2
       LIMIT 10000`,
      [from, to, tenant ?? null],
    );
    return rows.map((r) => ({
      group: r.grp,
      unit: r.unit,
      amount: Number(r.amount),
      attempts: Number(r.attempts),
    }));
  }

  /** What each listed tenant used of each listed unit in the current UTC month. */
  async monthToDate(tenants: readonly string[]): Promise<{ tenant: string; unit: string; amount: number }[]> {
    if (!tenants.length) return [];
    const rows: { tenant: string; unit: string; amount: string }[] = await this.db.query(
      `SELECT tenant, unit, sum(amount)::text AS amount FROM usage_daily
       WHERE tenant = ANY($1::text[]) AND day >= date_trunc('month', now() AT TIME ZONE 'UTC')::date
       GROUP BY tenant, unit`,
      [[...tenants]],
    );
    return rows.map((r) => ({ tenant: r.tenant, unit: r.unit, amount: Number(r.amount) }));
  }
}
