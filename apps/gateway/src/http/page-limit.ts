import { ApiError } from '@switchyard/contracts';

/** `limit` of a paged route: an integer 1…max, `max` when absent; else 400 naming `what`. */
export function parsePageLimit(raw: string | undefined, max: number, what: string): number {
  if (raw === undefined) return max;
  const limit = Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > max) {
    throw new ApiError('validation_failed', `invalid ${what} query`, [
      { field: 'limit', message: `must be an integer from 1 to ${max}` },
    ]);
  }
  return limit;
}
