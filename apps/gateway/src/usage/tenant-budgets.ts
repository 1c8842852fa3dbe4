import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { ApiError, type TenantSettings } from '@switchyard/contracts';
import { TenantBudgetsRepository, UsageRepository } from '@switchyard/persistence';
import { LOGGER, type Logger } from '../gateway.tokens';

/** How often every gateway reads the budgets and this month's use of the budgeted tenants. */
export const BUDGET_REFRESH_MS = 5000;
/** Budget rows read per refresh (one per tenant and budgeted unit). */
const BUDGETS_MAX = 100000;

/** The first instant of the next UTC month: when monthly budgets start again. */
export function nextMonthStart(now = new Date()): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
}

interface TenantState {
  budgets: Map<string, number>;
  used: Map<string, number>;
}

/**
 * Per-tenant monthly usage budgets (`PUT /admin/tenants/{tenant}` `budgets`), enforced at
 * admission: a tenant that has used its budget of a unit this UTC month gets 429
 * `budget_exhausted` until the month ends. Budgets and the month's use are read every
 * BUDGET_REFRESH_MS, so admission checks memory only, and a tenant without a budget costs one
 * map lookup. The use counted is what the ledger holds, so a budget may be passed by the jobs
 * already admitted (and by at most a few seconds of completions).
 */
@Injectable()
export class TenantBudgets implements OnModuleInit, OnModuleDestroy {
  private state = new Map<string, TenantState>();
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;

  constructor(
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly budgets: TenantBudgetsRepository,
    private readonly usage: UsageRepository,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.refresh().catch((error: unknown) =>
      this.logger.warn({ err: error }, 'could not read tenant budgets; retrying'),
    );
    this.timer = setInterval(() => {
      this.refresh().catch((error: unknown) =>
        this.logger.warn({ err: error }, 'could not read tenant budgets; the last ones stay in force'),
      );
    }, BUDGET_REFRESH_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  /** Throws 429 `budget_exhausted` when `tenant` has used a budget of this month. */
  assertWithin(tenant: string): void {
    const state = this.state.get(tenant);
    if (!state) return;
    for (const [unit, perMonth] of state.budgets) {
      const used = state.used.get(unit) ?? 0;
      if (used < perMonth) continue;
      const resetsAt = nextMonthStart();
      const retryAfter = Math.max(1, Math.ceil((resetsAt.getTime() - Date.now()) / 1000));
      throw new ApiError(
        'budget_exhausted',
        `the tenant has used its ${unit} budget of ${perMonth} for this month (${used}); it resets at ${resetsAt.toISOString()}`,
        [{ field: `budgets.${unit}`, message: `resets at ${resetsAt.toISOString()}` }],
        { 'retry-after': String(retryAfter) },
      );
    }
  }

  /** The tenant's budgets with this month's use (read now, not from the cache). */
  async view(tenant: string): Promise<Omit<TenantSettings, 'weight'>> {
    const [budgets, used] = await Promise.all([
      this.budgets.forTenant(tenant),
      this.usage.monthToDate([tenant]),
    ]);
    const resetsAt = nextMonthStart().toISOString();
    const view: Omit<TenantSettings, 'weight'> = { tenant, budgets: {} };
    for (const { unit, perMonth } of budgets) {
      view.budgets[unit] = {
        perMonth,
        used: used.find((u) => u.unit === unit)?.amount ?? 0,
        resetsAt,
      };
    }
    return view;
  }

  /** Sets or removes (null) budgets of `tenant`; this gateway applies them at once, others within a refresh. */
  async update(
    tenant: string,
    changes: Record<string, { perMonth: number } | null>,
  ): Promise<Omit<TenantSettings, 'weight'>> {
    const perUnit: Record<string, number | null> = {};
    for (const [unit, budget] of Object.entries(changes))
      perUnit[unit] = budget === null ? null : budget.perMonth;
    await this.budgets.update(tenant, perUnit);
    await this.refresh();
    return this.view(tenant);
  }

  /** Reads every budget and the budgeted tenants' use this month (one refresh at a time). */
  refresh(): Promise<void> {
    this.refreshing ??= this.read().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async read(): Promise<void> {
    const rows = await this.budgets.all(BUDGETS_MAX);
    const next = new Map<string, TenantState>();
    for (const { tenant, unit, perMonth } of rows) {
      let state = next.get(tenant);
      if (!state) next.set(tenant, (state = { budgets: new Map(), used: new Map() }));
      state.budgets.set(unit, perMonth);
    }
    for (const { tenant, unit, amount } of await this.usage.monthToDate([...next.keys()])) {
      next.get(tenant)?.used.set(unit, amount);
    }
    this.state = next;
  }
}
