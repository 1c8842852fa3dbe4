/** Priority names of SPEC §3; 9 is the most urgent. Never rename. */
export const PRIORITY_NAMES = { low: 2, normal: 5, high: 7, critical: 9 } as const;
export type PriorityName = keyof typeof PRIORITY_NAMES;
export const DEFAULT_PRIORITY = PRIORITY_NAMES.normal;
export const MIN_PRIORITY = 0;
export const MAX_PRIORITY = 9;

/** Returns the numeric priority for a number 0–9 or a priority name, or undefined when invalid. */
export function parsePriority(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= MIN_PRIORITY && value <= MAX_PRIORITY ? value : undefined;
  }
  if (typeof value === 'string' && Object.prototype.hasOwnProperty.call(PRIORITY_NAMES, value)) {
    return PRIORITY_NAMES[value as PriorityName];
  }
  return undefined;
}
