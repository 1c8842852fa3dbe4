/*
 * The dispatch window's sizes: pure functions and the start-rate counter, without imports, so the
 * benchmark checks RabbitMQ's depth against the same rule the dispatcher follows.
 */

/**
 * A claim notification wakes a release only once the window has at least this much room (half of
 * it, at least 1): one release statement then refills several claims' worth of slots instead of
 * one statement per claim, while the other half still feeds the consumers.
 */
export function refillAt(window: number): number {
  return Math.max(1, Math.ceil(window / 2));
}

/** Automatic window: enough to keep every consumer's prefetch full twice over. */
export function automaticWindow(consumers: number, prefetch: number): number {
  return Math.max(2 * consumers * prefetch, 2 * prefetch);
}

/**
 * The automatic window also holds at least this long of the queue's current start rate. A release
 * statement costs about the same for 8 jobs as for 32 (with many tenants its fair-share part reads
 * every tenant at the cut), so under a high start rate a window of a few prefetches means one
 * statement per handful of claims, and PostgreSQL spends its time there. Sized by time, the batch
 * grows with the rate, while what a newly urgent job (or another tenant's) can wait behind stays
 * bounded by this much work; slow job types keep the prefetch-sized window.
 */
export const RATE_WINDOW_MS = 100;
/** The largest window the start rate can ask for (the broker holds at most this many per queue). */
export const RATE_WINDOW_MAX = 512;

/**
 * Starts per second of one queue, from the claim notifications: the count of the last whole
 * second (a one-second bucket, rolled when read or counted; 0 after a second without claims).
 */
export class StartRate {
  private bucketStart: number;
  private count = 0;
  private last = 0;

  constructor(private readonly now: () => number = Date.now) {
    this.bucketStart = now();
  }

  add(n: number): void {
    this.roll();
    this.count += n;
  }

  perSecond(): number {
    this.roll();
    return this.last;
  }

  private roll(): void {
    const now = this.now();
    const elapsed = now - this.bucketStart;
    if (elapsed < 1000) return;
    this.last = elapsed < 2000 ? this.count : 0;
    this.count = 0;
    this.bucketStart = now - (elapsed % 1000);
  }
}

/** The automatic window for a queue starting `perSecond` jobs a second (see RATE_WINDOW_MS). */
export function rateWindow(perSecond: number): number {
  return Math.min(RATE_WINDOW_MAX, Math.ceil((perSecond * RATE_WINDOW_MS) / 1000));
}
