import Redis from 'ioredis';
import { TEST_SERVICES } from '@switchyard/testing';
import { sleep } from './stats';

const TERMINAL = /"status":"(completed|failed|cancelled)"/;

/**
 * When the progress-tracker projected each job's terminal state. The tracker publishes every event
 * it applies to a job's live state on `<REDIS_PREFIX>events` (the SSE fan-out channel) in the same
 * script as the write, so a subscriber sees the moment each job's terminal state became visible to
 * `GET /jobs/{id}` and SSE clients: that, not the worker's commit, ends a throughput window. Only
 * terminal events are parsed; the rest are skipped by a substring test (the bench's CPU).
 */
export class TrackerWatch {
  /** Job id → when its terminal event was seen (ms since the epoch). */
  private readonly terminalAt = new Map<string, number>();
  private constructor(private readonly redis: Redis) {}

  static async start(redisPrefix: string): Promise<TrackerWatch> {
    const redis = new Redis(TEST_SERVICES.redis, { lazyConnect: true, maxRetriesPerRequest: null });
    await redis.connect();
    const watch = new TrackerWatch(redis);
    redis.on('message', (_channel: string, message: string) => watch.onMessage(message));
    await redis.subscribe(`${redisPrefix}events`);
    return watch;
  }

  private onMessage(message: string): void {
    if (!TERMINAL.test(message)) return;
    try {
      const event = JSON.parse(message) as { data?: { jobId?: string } };
      const id = event.data?.jobId;
      if (id && !this.terminalAt.has(id)) this.terminalAt.set(id, Date.now());
    } catch {
      // not an event
    }
  }

  /** How many of `ids` have had their terminal event projected. */
  projected(ids: readonly string[]): number {
    let n = 0;
    for (const id of ids) if (this.terminalAt.has(id)) n += 1;
    return n;
  }

  /**
   * Waits until every one of `ids` has its terminal event projected; resolves to the time the last
   * one was seen, or null (with how many were seen) after `timeoutMs`, or once nothing new has been
   * seen for `stallMs` (a stuck job, or a tracker that no longer publishes on this channel).
   */
  async caughtUp(
    ids: readonly string[],
    timeoutMs: number,
    stallMs = 30000,
  ): Promise<{ at: number | null; seen: number }> {
    const deadline = Date.now() + timeoutMs;
    let seen = 0;
    let progressAt = Date.now();
    for (;;) {
      const now = this.projected(ids);
      if (now === ids.length) break;
      if (now > seen) {
        seen = now;
        progressAt = Date.now();
      }
      if (Date.now() > deadline || Date.now() - progressAt > stallMs) return { at: null, seen: now };
      await sleep(100);
    }
    let last = 0;
    for (const id of ids) last = Math.max(last, this.terminalAt.get(id) ?? 0);
    return { at: last, seen: ids.length };
  }

  /** Forgets the jobs seen so far (bounded memory across repeated runs). */
  clear(): void {
    this.terminalAt.clear();
  }

  async stop(): Promise<void> {
    this.redis.disconnect();
    await Promise.resolve();
  }
}
