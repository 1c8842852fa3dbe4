import type { ChainableCommander, Redis } from 'ioredis';
import type { JobEventName } from '@switchyard/contracts';
import type { JobEventInput } from './live-progress';

/** Width of one counter: starts and finishes are counted per queue in buckets of this many ms. */
export const RATE_BUCKET_MS = 5000;

/** The longest window a reader may ask for; a bucket's key expires once no window can reach it. */
export const RATE_WINDOW_MAX_S = 300;

const RATE_KEY_TTL_S = RATE_WINDOW_MAX_S + (2 * RATE_BUCKET_MS) / 1000;

/** What a queue's counters count: attempts that started, and jobs that ended completed or failed. */
export type RateKind = 'started' | 'finished';

/** Starts and finishes of one queue over the windows asked for. */
export interface QueueRateCounts {
  started: number;
  finished: number;
}

/** The counter a lifecycle event adds to, if any: starts, and the two final outcomes of a run. */
export function rateKindOf(event: JobEventName): RateKind | undefined {
  if (event === 'started') return 'started';
  return event === 'completed' || event === 'failed' ? 'finished' : undefined;
}

/**
 * Per-queue counts of job starts and finishes in Redis, kept by the progress-tracker as it applies
 * lifecycle events and read by every gateway for `GET /queues` and wait estimates. They replace
 * counting the `jobs` rows that started or finished within a window, which cost PostgreSQL a row
 * per job of the window on every poll (tens of milliseconds a poll at a thousand jobs a second):
 * here a poll is one MGET of a fixed number of keys, whatever the rate.
 *
 * Buckets are hand-rolled INCRBY keys because Redis has no windowed counter of its own (a sorted
 * set per queue would hold a member per job). An event applied twice (a batch redelivered after a
 * failed write) counts twice: the counts feed estimates, not accounting.
 */
export class QueueRates {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** The key of one queue's counter of `kind` for the bucket `bucket` (ms since the epoch / RATE_BUCKET_MS). */
  key(queue: string, kind: RateKind, bucket: number): string {
    return `${this.prefix}rate:${queue}:${kind}:${bucket}`;
  }

  /**
   * Adds the starts and finishes among `events` to `pipeline`: one INCRBY and one EXPIRE per
   * queue, kind and bucket of the events' own times (a tracker catching up counts them where they
   * happened), so a batch of a busy turn costs a few commands, not one per event.
   */
  append(pipeline: ChainableCommander, events: readonly JobEventInput[], now = Date.now()): void {
    const counts = new Map<string, number>();
    for (const e of events) {
      const kind = rateKindOf(e.event);
      if (kind === undefined) continue;
      const at = Date.parse(e.time);
      const key = this.key(e.data.queue, kind, Math.floor((Number.isFinite(at) ? at : now) / RATE_BUCKET_MS));
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    for (const [key, n] of counts) pipeline.incrby(key, n).expire(key, RATE_KEY_TTL_S);
  }

  /**
   * Starts over the last `startedS` seconds and finishes over the last `finishedS` seconds (each
   * at most RATE_WINDOW_MAX_S) per queue, every queue asked for in the map. A window is made of
   * whole buckets, the current one included, and the count is scaled from the time those buckets
   * cover to the window: the figure is a count per window, as a rate needs it.
   */
  async read(
    queues: readonly string[],
    windows: { startedS: number; finishedS: number },
    now = Date.now(),
  ): Promise<Map<string, QueueRateCounts>> {
    const spans = {
      started: bucketSpan(windows.startedS, now),
      finished: bucketSpan(windows.finishedS, now),
    };
    const keys: string[] = [];
    for (const queue of queues) {
      for (const kind of ['started', 'finished'] as const) {
        for (let b = spans[kind].first; b <= spans[kind].last; b++) keys.push(this.key(queue, kind, b));
      }
    }
    const values = keys.length ? await this.redis.mget(keys) : [];
    const result = new Map<string, QueueRateCounts>();
    let i = 0;
    for (const queue of queues) {
      const counts: QueueRateCounts = { started: 0, finished: 0 };
      for (const kind of ['started', 'finished'] as const) {
        const { first, last, scale } = spans[kind];
        let sum = 0;
        for (let b = first; b <= last; b++) sum += Number(values[i++] ?? 0) || 0;
        counts[kind] = Math.round(sum * scale);
      }
      result.set(queue, counts);
    }
    return result;
  }
}

/**
 * The buckets a window of `seconds` ending `now` reads: those that start within it, up to the
 * current one; `scale` turns their sum into a count per window (they cover `now - start of the
 * first`, between the window less one bucket and the window).
 */
function bucketSpan(seconds: number, now: number): { first: number; last: number; scale: number } {
  if (!(seconds > 0 && seconds <= RATE_WINDOW_MAX_S)) {
    throw new RangeError(`a rate window is 0–${RATE_WINDOW_MAX_S} s, got ${seconds}`);
  }
  const last = Math.floor(now / RATE_BUCKET_MS);
  const first = Math.ceil((now - seconds * 1000) / RATE_BUCKET_MS);
  const covered = now - first * RATE_BUCKET_MS;
  return { first, last, scale: covered > 0 ? (seconds * 1000) / covered : 1 };
}
