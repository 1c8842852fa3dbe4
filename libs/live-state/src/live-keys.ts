export interface LiveKeys {
  /** Hash: the latest state of one job (LiveProgress fields). */
  live(jobId: string): string;
  /** Sorted set: the job's events, scored by seq, members are StoredJobEvent JSON. */
  events(jobId: string): string;
  /** Pub/sub channel on which every applied event is published (SSE fan-out). */
  channel: string;
}

/** Key names of the live state; `prefix` is REDIS_PREFIX (e.g. `sy:`), so every key starts with it. */
export function liveKeys(prefix: string): LiveKeys {
  return {
    live: (jobId) => `${prefix}job:${jobId}:live`,
    events: (jobId) => `${prefix}job:${jobId}:events`,
    channel: `${prefix}events`,
  };
}
