import { Injectable } from '@nestjs/common';
import { ApiError, USAGE_GROUPS, type UsageGroup, type UsageReport } from '@switchyard/contracts';
import { UsageRepository } from '@switchyard/persistence';

/** The widest range one report covers. */
export const USAGE_RANGE_MAX_DAYS = 366;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

function invalid(field: string, message: string): ApiError {
  return new ApiError('validation_failed', `invalid usage query: ${field} ${message}`, [{ field, message }]);
}

/** A `YYYY-MM-DD` day or an ISO-8601 time, as its UTC day. */
function dayOf(field: string, value: string | undefined, fallback: Date): string {
  if (value === undefined) return fallback.toISOString().slice(0, 10);
  const at = new Date(DAY.test(value) ? `${value}T00:00:00Z` : value);
  if (value.length > 40 || Number.isNaN(at.getTime()))
    throw invalid(field, 'must be a date (YYYY-MM-DD) or an ISO-8601 time');
  return at.toISOString().slice(0, 10);
}

/** `GET /usage`: the ledger summed per tenant, job type or day. */
@Injectable()
export class UsageService {
  constructor(private readonly usage: UsageRepository) {}

  async report(
    query: { groupBy?: string; from?: string; to?: string },
    tenant: string | undefined,
  ): Promise<UsageReport> {
    const groupBy = (query.groupBy ?? 'tenant') as UsageGroup;
    if (!USAGE_GROUPS.includes(groupBy))
      throw invalid('groupBy', `must be one of ${USAGE_GROUPS.join(', ')}`);
    const now = new Date();
    const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    const from = dayOf('from', query.from, monthStart);
    const to = dayOf('to', query.to, now);
    if (from > to) throw invalid('from', 'must not be after `to`');
    const days = (Date.parse(to) - Date.parse(from)) / 86400000;
    if (days >= USAGE_RANGE_MAX_DAYS)
      throw invalid('to', `the range covers at most ${USAGE_RANGE_MAX_DAYS} days`);
    const rows = await this.usage.report(groupBy, from, to, tenant);
    const groups = new Map<string, UsageReport['items'][number]>();
    for (const row of rows) {
      let item = groups.get(row.group);
      if (!item) groups.set(row.group, (item = { group: row.group, units: {}, attempts: {} }));
      item.units[row.unit] = row.amount;
      item.attempts[row.unit] = row.attempts;
    }
    return { groupBy, from, to, items: [...groups.values()] };
  }
}
