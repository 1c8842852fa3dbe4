import { Writable } from 'node:stream';
import { ApiError } from '@switchyard/contracts';
import { createLogger } from '@switchyard/observability';
import type { TenantBudget, TenantBudgetsRepository, UsageRepository } from '@switchyard/persistence';
import { nextMonthStart, TenantBudgets } from './tenant-budgets';

const quiet = createLogger('gateway', 'silent', new Writable({ write: (_c, _e, done) => done() }));

function budgetsWith(budgets: TenantBudget[], used: { tenant: string; unit: string; amount: number }[]) {
  const repo = {
    all: () => Promise.resolve(budgets),
    forTenant: (tenant: string) => Promise.resolve(budgets.filter((b) => b.tenant === tenant)),
    update: () => Promise.resolve(),
  } as unknown as TenantBudgetsRepository;
  const usage = {
    monthToDate: (tenants: readonly string[]) =>
      Promise.resolve(used.filter((u) => tenants.includes(u.tenant))),
  } as unknown as UsageRepository;
  return new TenantBudgets(quiet, repo, usage);
}

describe('TenantBudgets', () => {
  it('refuses a tenant that used its budget with 429 budget_exhausted and the reset time; others pass', async () => {
    const budgets = budgetsWith(
      [
        { tenant: 'spent', unit: 'cost_usd', perMonth: 10 },
        { tenant: 'under', unit: 'cost_usd', perMonth: 10 },
      ],
      [
        { tenant: 'spent', unit: 'cost_usd', amount: 10 },
        { tenant: 'under', unit: 'cost_usd', amount: 9.99 },
        { tenant: 'free', unit: 'cost_usd', amount: 1e9 },
      ],
    );
    await budgets.refresh();
    let error: unknown;
    try {
      budgets.assertWithin('spent');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ApiError);
    const apiError = error as ApiError;
    expect(apiError.code).toBe('budget_exhausted');
    expect(apiError.message).toContain(nextMonthStart().toISOString());
    expect(Number(apiError.headers['retry-after'])).toBeGreaterThan(0);
    expect(() => budgets.assertWithin('under')).not.toThrow();
    expect(() => budgets.assertWithin('free')).not.toThrow();
  });

  it('shows budgets with the month’s use', async () => {
    const budgets = budgetsWith(
      [{ tenant: 't', unit: 'tokens_out', perMonth: 100 }],
      [{ tenant: 't', unit: 'tokens_out', amount: 42 }],
    );
    expect(await budgets.view('t')).toEqual({
      tenant: 't',
      budgets: { tokens_out: { perMonth: 100, used: 42, resetsAt: nextMonthStart().toISOString() } },
    });
  });
});

describe('nextMonthStart', () => {
  it('is the first instant of the next UTC month, across a year end', () => {
    expect(nextMonthStart(new Date('2026-12-31T23:59:59Z')).toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(nextMonthStart(new Date('2026-02-10T05:00:00Z')).toISOString()).toBe('2026-03-01T00:00:00.000Z');
  });
});
