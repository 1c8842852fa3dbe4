import type { DataSource } from 'typeorm';

export interface TenantBudget {
  tenant: string;
  unit: string;
  perMonth: number;
}

/** Monthly usage budgets per tenant and unit (`PUT /admin/tenants/{tenant}` `budgets`). */
export class TenantBudgetsRepository {
  constructor(private readonly db: DataSource) {}

  /** Sets (a number) or removes (null) budgets of `tenant`, in one transaction. */
  async update(tenant: string, changes: Record<string, number | null>): Promise<void> {
    const set = Object.entries(changes).filter((e): e is [string, number] => e[1] !== null);
    const removed = Object.keys(changes).filter((unit) => changes[unit] === null);
    await this.db.transaction(async (m) => {
      if (removed.length) {
        await m.query(`DELETE FROM tenant_budgets WHERE tenant = $1 AND unit = ANY($2::text[])`, [
          tenant,
          removed,
        ]);
      }
      if (set.length) {
        await m.query(
          `INSERT INTO tenant_budgets (tenant, unit, per_month)
           SELECT $1, u, p FROM unnest($2::text[], $3::numeric[]) AS v(u, p)
           ON CONFLICT (tenant, unit) DO UPDATE SET per_month = excluded.per_month, updated_at = now()`,
          [tenant, set.map(([unit]) => unit), set.map(([, perMonth]) => String(perMonth))],
        );
      }
    });
  }

  async forTenant(tenant: string): Promise<TenantBudget[]> {
    return this.rows(
      `SELECT tenant, unit, per_month::text AS per_month FROM tenant_budgets WHERE tenant = $1 ORDER BY unit`,
      [tenant],
    );
  }

  /** Every budget (a small table: one row per tenant and budgeted unit), at most `limit`. */
  async all(limit: number): Promise<TenantBudget[]> {
    return this.rows(
      `SELECT tenant, unit, per_month::text AS per_month FROM tenant_budgets ORDER BY tenant, unit LIMIT $1`,
      [limit],
    );
  }

  private async rows(sql: string, params: unknown[]): Promise<TenantBudget[]> {
    const rows: { tenant: string; unit: string; per_month: string }[] = await this.db.query(sql, params);
    return rows.map((r) => ({ tenant: r.tenant, unit: r.unit, perMonth: Number(r.per_month) }));
  }
}
