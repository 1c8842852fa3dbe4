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

/** Bit 0 of a job's entry: its wait was observed. */
const WAITED = 1;
/** Seqs 1–29 are bits 1–29 of the entry (job.queued is 1, the first job.started 2). */
const MAX_BIT_SEQ = 29;
/** The low 30 bits of an entry are the flags; a first higher seq is kept above them, times this. */
const HIGH = 2 ** 30;
/** Higher seqs up to this fit above the flags within a double's exact integers (2^53). */
const MAX_PACKED_SEQ = 2 ** 23 - 1;
/** Higher seqs (job.started of later attempts, the end of each attempt) listed per job, up to this many. */
const MAX_HIGH_SEQS = 32;

/**
 * One job's entry: a number `flags + HIGH × firstHigherSeq` (0 when none) for a job with at most
 * one higher seq — the usual job (queued 1, started 2, completed 10 002) costs one number — or
 * `[flags, ...higher seqs]` once it has more (retries).
 */
type Entry = number | number[];

/**
 * Which events of the recently seen jobs were recorded: one Map entry per job rather than a
 * string key per (jobId, seq). Flags: bit s for seq 1–29 and bit 0 for the observed wait; the
 * seqs a claim's block puts higher (a completion is 10 002) are kept beside them (see Entry).
 * Forgets the oldest jobs beyond `capacity`. 100 000 finished jobs hold about 11 MB, keys
 * included (30 MB when every job had an array, grown by push() to 17 slots).
 */
export class SeenEvents {
  private readonly jobs = new Map<string, Entry>();
  /** Seqs that are not integers, or beyond MAX_HIGH_SEQS of one job: string keys, as a last resort. */
  private readonly overflow: BoundedSet;

  constructor(private readonly capacity: number) {
    this.overflow = new BoundedSet(capacity);
  }

  /** False when (jobId, seq) was added before. */
  addEvent(jobId: string, seq: number): boolean {
    if (!Number.isInteger(seq)) return this.overflow.add(`${jobId}:${seq}`);
    if (seq >= 1 && seq <= MAX_BIT_SEQ) return this.addFlag(jobId, 2 ** seq);
    const entry = this.jobs.get(jobId);
    if (entry === undefined) {
      this.insert(jobId, seq > MAX_BIT_SEQ && seq <= MAX_PACKED_SEQ ? seq * HIGH : [0, seq]);
      return true;
    }
    if (typeof entry === 'number') {
      const high = Math.floor(entry / HIGH);
      if (high === seq && seq > MAX_BIT_SEQ) return false;
      if (high === 0 && seq > MAX_BIT_SEQ && seq <= MAX_PACKED_SEQ) {
        this.jobs.set(jobId, entry + seq * HIGH);
      } else {
        this.jobs.set(jobId, high === 0 ? [entry, seq] : [entry % HIGH, high, seq]);
      }
      return true;
    }
    if (entry.includes(seq, 1)) return false;
    if (entry.length > MAX_HIGH_SEQS) return this.overflow.add(`${jobId}:${seq}`);
    entry.push(seq);
    return true;
  }

  /** False when the job's wait was already observed. */
  addWait(jobId: string): boolean {
    return this.addFlag(jobId, WAITED);
  }

  /** Jobs remembered. */
  get size(): number {
    return this.jobs.size;
  }

  private addFlag(jobId: string, flag: number): boolean {
    const entry = this.jobs.get(jobId);
    if (entry === undefined) {
      this.insert(jobId, flag);
      return true;
    }
    if (typeof entry === 'number') {
      if (isSet(entry % HIGH, flag)) return false;
      this.jobs.set(jobId, entry + flag);
      return true;
    }
    const flags = entry[0] ?? 0;
    if (isSet(flags, flag)) return false;
    entry[0] = flags + flag;
    return true;
  }

  private insert(jobId: string, entry: Entry): void {
    this.jobs.set(jobId, entry);
    if (this.jobs.size > this.capacity) {
      const oldest = this.jobs.keys().next();
      if (!oldest.done) this.jobs.delete(oldest.value);
    }
  }
}

/** Flags stay below 2^30, so the 32-bit `&` is exact on them. */
const isSet = (flags: number, flag: number): boolean => (flags & flag) !== 0;

export interface RecorderOptions {
  /**
   * How many jobs' events are remembered to drop redeliveries. Repeats come from the outbox relay
   * and from redelivery after a consumer or connection loss, seconds apart, so this only needs to
   * cover the jobs of a few seconds at full throughput (100 000 jobs ≈ 50 s at 2 000 jobs/s,
   * about 11 MB).
   */
  rememberJobs: number;
  /** Queues beyond the built-in ones discovered from events, polled like them; bounded. */
  maxQueues: number;
}

export const DEFAULT_RECORDER_OPTIONS: RecorderOptions = { rememberJobs: 100_000, maxQueues: 64 };

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
 * - a job's first event (seq 1: the gateway's `job.queued`, or the terminal event of a job that was
 *   never queued) → submitted{type,queue,priority} and tenant_jobs_submitted{tenant}; any later
 *   `job.queued` (retry, replay, hand-back) → requeued.
 * - `job.started` of attempt 1 → wait (startedAt − createdAt), once per job.
 * - `job.retrying` → retried; `job.cancelled` → cancelled.
 * - `job.completed` → completed and duration (finishedAt − startedAt of the final attempt).
 * - `job.failed` → failed{code} and dead_lettered (every failed job is dead-lettered, SPEC §3).
 * - `job.progress` changes no job metric.
 */
export class EventRecorder {
  private readonly seen: SeenEvents;
  private readonly extraQueues = new Set<string>();

  constructor(
    private readonly metrics: JobMetrics,
    private readonly options: RecorderOptions = DEFAULT_RECORDER_OPTIONS,
  ) {
    this.seen = new SeenEvents(options.rememberJobs);
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
    if (name !== 'progress' && !this.seen.addEvent(data.jobId, data.seq)) {
      this.metrics.eventsDropped.inc({ reason: 'duplicate' });
      return 'duplicate';
    }
    this.metrics.events.inc({ event: name });
    const type = label(data.type, 'unknown');
    this.noteQueue(data.queue);
    if (isAcceptance(event)) {
      const p = priorityOf(event) ?? priority;
      this.metrics.submitted.inc({
        type,
        queue: label(data.queue, 'unknown'),
        priority: p === undefined ? 'unknown' : String(p),
      });
      this.metrics.tenantSubmitted.inc({ tenant: label(data.tenant, 'unknown', TENANT) });
    }
    switch (name) {
      case 'queued':
        if (!isAcceptance(event)) this.metrics.requeued.inc({ type });
        break;
      case 'started':
        if (data.attempt === 1 && this.seen.addWait(data.jobId)) {
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

/**
 * The first event of every job (seq 1, docs/architecture.md): usually the gateway's `job.queued`;
 * for a job that ends before it was ever queued — a scheduled job cancelled, a flow job failed or
 * cancelled because of a dependency while `waiting` — its terminal event. Counted as its submission,
 * so that `jobs_submitted_total` stays the number of jobs stored.
 */
function isAcceptance(event: JobCloudEvent): boolean {
  return event.data.seq === 1 && jobEventName(event) !== 'progress';
}

/**
 * The priority an acceptance carries (every `job.queued` of this version does: the gateway's, a
 * scheduled job's promotion, a flow job whose dependencies completed); an older producer's
 * acceptances without one are looked up.
 */
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
