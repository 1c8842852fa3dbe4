import { DISPATCH_BATCH_LIMIT } from '@switchyard/contracts';

/**
 * A job type whose declared timeout is above this is long: its jobs go one per work message. A
 * job that may run for minutes must not hold other jobs unstarted in a worker's hands.
 */
export const SHORT_TIMEOUT_MAX_MS = 10_000;

/** What the batching rule reads of a job type's declaration (its static defaults). */
export interface BatchedTypeDefaults {
  timeoutMs?: unknown;
  /** Declared long-running: one job per work message whatever its timeout. */
  long?: unknown;
  concurrencyKey?: unknown;
  rateKey?: unknown;
}

/**
 * K, the most jobs of a type one work message carries (docs/architecture.md, "Batched
 * dispatch"): 1 for an unknown type and for a long one — declared `long`, a declared timeout
 * above SHORT_TIMEOUT_MAX_MS, or a concurrency or rate key (provider calls, released one by one
 * within their limits anyway) — else `max`: DISPATCH_BATCH_MAX, at most the workers' prefetch
 * (WORKER_CONCURRENCY), so that an idle worker starts every job of a message at once.
 */
export function batchSizeOf(defaults: BatchedTypeDefaults | undefined, max: number): number {
  if (!defaults) return 1;
  if (defaults.long === true) return 1;
  if (typeof defaults.timeoutMs === 'number' && defaults.timeoutMs > SHORT_TIMEOUT_MAX_MS) return 1;
  if (defaults.concurrencyKey !== undefined || defaults.rateKey !== undefined) return 1;
  return Math.max(1, Math.min(Math.floor(max), DISPATCH_BATCH_LIMIT));
}

/** The batching fields of a released job. */
export interface BatchableJob {
  queue: string;
  type: string;
  /** The message's AMQP priority. */
  effectivePriority: number;
}

/**
 * Splits one release's jobs into work messages: jobs of the same queue, effective priority and type
 * go together, at most `sizeOf(type)` per message, each message's jobs in their release order, the
 * messages in the order of their first job (so the most urgent go first). A job `alone` says so
 * for (a traced job, whose publish is its own span) gets a message of its own.
 */
export function dispatchBatches<J extends BatchableJob>(
  jobs: readonly J[],
  sizeOf: (type: string) => number,
  alone: (job: J) => boolean = () => false,
): J[][] {
  const batches: J[][] = [];
  const open = new Map<string, J[]>();
  for (const job of jobs) {
    const size = sizeOf(job.type);
    if (size <= 1 || alone(job)) {
      batches.push([job]);
      continue;
    }
    const key = `${job.queue}\u0000${job.effectivePriority}\u0000${job.type}`;
    let batch = open.get(key);
    if (!batch || batch.length >= size) {
      batch = [];
      open.set(key, batch);
      batches.push(batch);
    }
    batch.push(job);
  }
  return batches;
}
