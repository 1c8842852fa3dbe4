/**
 * At most one log line per key per interval: a loop whose step fails on every run (a database
 * outage) logs it once per interval instead of once per run. The first call for a key is allowed.
 * Keys are a caller's fixed set of step or queue names, so the map stays small.
 */
export class LogThrottle {
  private readonly last = new Map<string, number>();

  constructor(
    private readonly everyMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether a line for `key` may be logged now (and, if so, the interval starts again). */
  allow(key = ''): boolean {
    const now = this.now();
    const last = this.last.get(key);
    if (last !== undefined && now - last < this.everyMs) return false;
    this.last.set(key, now);
    return true;
  }
}
