import { jobEventName, type JobCloudEvent } from '@switchyard/contracts';
import type { JobMetrics } from './job-metrics';

/** A set that forgets its oldest entries beyond `capacity` (Map keeps insertion order). */
export class BoundedSet {
  private readonly entries = new Map<string, true>();

  constructor(private readonly capacity: number) {}

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** False when the key was already there. */
  add(key: string): boolean {
    if (this.entries.has(key)) return false;
    this.entries.set(key, true);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    return true;
  }

  get size(): number {
    return this.entries.size;
  }
}

export interface RecorderOptions {
  /**
   * How many (jobId, seq) pairs are remembered to drop redeliveries. Repeats come from the outbox
   * relay and from redelivery after a consumer or connection loss, seconds apart, so this only
   * needs to cover the events of a few seconds at full throughput (100 000 pairs ≈ 12 s at
   * 2 000 jobs/s, about 10 MB).
   */
  rememberEvents: number;
  /** Queues beyond the built-in ones discovered from events, polled like them; bounded. */
  maxQueues: number;
}

export const DEFAULT_RECORDER_OPTIONS: RecorderOptions = { rememberEvents: 100_000, maxQueues: 64 };

/** Label values that come from producers; anything unexpected collapses into one value. */
const LABEL_VALUE = /^[A-Za-z0-9_.:-]{1,100}$/;
const label = (value: unknown, fallback: string, pattern = LABEL_VALUE): string =>
  typeof value === 'string' && pattern.test(value) ? value : fallback;
/** Tenants are named by administrators: any printable name is kept as it is. */
const TENANT = /^[^\p{Cc}]{1,128}$/u;

/** What happened to one event. */
export type RecordOutcome = 'applied' | 'duplicate';

/**
 * Turns job lifecycle events into the SPEC §8 counters and histograms, each event at most once.
 *
 * - `job.queued` with seq 1 (the gateway's acceptance) → submitted{type,queue,priority} and
 *   tenant_jobs_submitted{tenant}; any later `job.queued` (retry, replay, hand-back) → requeued.
 * - `job.started` of attempt 1 → wait (startedAt − createdAt), once per job.
 * - `job.retrying` → retried; `job.cancelled` → cancelled.
 * - `job.completed` → completed and duration (finishedAt − startedAt of the final attempt).
 * - `job.failed` → failed{code} and dead_lettered (every failed job is dead-lettered, SPEC §3).
 * - `job.progress` changes no job metric.
 */
export class EventRecorder {
  private readonly seen: BoundedSet;
  private readonly waited: BoundedSet;
  private readonly extraQueues = new Set<string>();

  constructor(
    private readonly metrics: JobMetrics,
    private readonly options: RecorderOptions = DEFAULT_RECORDER_OPTIONS,
  ) {
    this.seen = new BoundedSet(options.rememberEvents);
    this.waited = new BoundedSet(options.rememberEvents);
  }

  /** Queues named by events, for the poller (built-in queues are polled anyway). */
  queues(): string[] {
    return [...this.extraQueues];
  }

  /** A `job.queued` acceptance whose priority the event does not carry: the caller looks it up. */
  needsPriority(event: JobCloudEvent): boolean {
    return isAcceptance(event) && priorityOf(event) === undefined;
  }

  /**
   * Records `event` unless this (jobId, seq) was recorded before. `priority` is the job's priority
   * when the event does not carry one (looked up by the caller); 'unknown' when neither has it.
   */
  record(event: JobCloudEvent, priority?: number): RecordOutcome {
    const name = jobEventName(event);
    const data = event.data;
    if (name !== 'progress' && !this.seen.add(`${data.jobId}:${data.seq}`)) {
      this.metrics.eventsDropped.inc({ reason: 'duplicate' });
      return 'duplicate';
    }
    this.metrics.events.inc({ event: name });
    const type = label(data.type, 'unknown');
    this.noteQueue(data.queue);
    switch (name) {
      case 'queued':
        if (isAcceptance(event)) {
          const p = priorityOf(event) ?? priority;
          this.metrics.submitted.inc({
            type,
            queue: label(data.queue, 'unknown'),
            priority: p === undefined ? 'unknown' : String(p),
          });
          this.metrics.tenantSubmitted.inc({ tenant: label(data.tenant, 'unknown', TENANT) });
        } else {
          this.metrics.requeued.inc({ type });
        }
        break;
      case 'started':
        if (data.attempt === 1 && this.waited.add(data.jobId)) {
          const wait = secondsBetween(data.createdAt, data.startedAt ?? event.time);
          if (wait !== undefined) this.metrics.wait.observe({ type }, wait);
        }
        break;
      case 'retrying':
        this.metrics.retried.inc({ type });
        break;
      case 'completed': {
        this.metrics.completed.inc({ type });
        const duration = secondsBetween(data.startedAt, data.finishedAt ?? event.time);
        if (duration !== undefined) this.metrics.duration.observe({ type }, duration);
        break;
      }
      case 'failed':
        this.metrics.failed.inc({ type, code: label(data.error?.code, 'unknown') });
        this.metrics.deadLettered.inc({ type });
        break;
      case 'cancelled':
        this.metrics.cancelled.inc({ type });
        break;
      case 'progress':
        break;
    }
    return 'applied';
  }

  private noteQueue(queue: unknown): void {
    if (typeof queue !== 'string' || !LABEL_VALUE.test(queue) || this.extraQueues.has(queue)) return;
    if (this.extraQueues.size < this.options.maxQueues) this.extraQueues.add(queue);
  }
}

/** The gateway's acceptance of a new job: the first event of every job (docs/architecture.md). */
function isAcceptance(event: JobCloudEvent): boolean {
  return jobEventName(event) === 'queued' && event.data.seq === 1;
}

/** Events do not carry the priority today; if a producer adds it, it is used as is. */
function priorityOf(event: JobCloudEvent): number | undefined {
  const value = (event.data as { priority?: unknown }).priority;
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 9 ? value : undefined;
}

/** Seconds from `from` to `to` (ISO strings); clock skew between hosts never makes it negative. */
function secondsBetween(from: string | undefined, to: string | undefined): number | undefined {
  if (from === undefined || to === undefined) return undefined;
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) ? Math.max(0, ms) / 1000 : undefined;
}
