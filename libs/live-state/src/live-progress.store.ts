import type { ChainableCommander, Redis } from 'ioredis';
import { APPLY_EVENTS_LUA } from './apply-event.script';
import { liveKeys, type LiveKeys } from './live-keys';
import { execPipeline } from './pipeline';
import { QueueRates } from './queue-rates';
import {
  decodeLive,
  decodeStoredEvent,
  appendLiveValues,
  encodeStoredEvent,
  type JobEventInput,
  type LiveProgress,
  type StoredJobEvent,
} from './live-progress';

export interface LiveProgressStoreOptions {
  /** REDIS_PREFIX, e.g. `sy:`. */
  prefix: string;
  /** Expiry of both keys of a job, refreshed by every event. */
  ttlSeconds: number;
  /** The event log keeps the newest this many events (default 1000). */
  maxEventsPerJob?: number;
}

export const DEFAULT_MAX_EVENTS_PER_JOB = 1000;

// Registered on the client with defineCommand: ioredis sends EVALSHA and falls back to EVAL on
// NOSCRIPT (e.g. after a Redis restart flushed the script cache), in pipelines too. The number of
// keys varies with the chunk, so it is the command's first argument.
const APPLY_COMMAND = 'switchyardApplyJobEvents';
/** numkeys, KEYS, ARGV (ioredis flattens the arrays into one argument list). */
type ChunkArgs = [numkeys: string, keys: string[], argv: string[]];
type ApplyEventsCommand = {
  [APPLY_COMMAND](...args: ChunkArgs): unknown;
};

/**
 * Events per script call: a chunk's arguments stay far below Redis' and Lua's limits, and one
 * call holds Redis for well under a millisecond.
 */
export const APPLY_CHUNK_EVENTS = 128;

/** Live progress and per-job event logs in Redis, written by the progress-tracker, read by the gateway. */
export class LiveProgressStore {
  readonly keys: LiveKeys;
  /** The per-queue start and finish counters, which applying events keeps up to date. */
  private readonly rates: QueueRates;
  private readonly ttl: string;
  private readonly maxEvents: string;

  constructor(
    private readonly redis: Redis,
    options: LiveProgressStoreOptions,
  ) {
    const maxEvents = options.maxEventsPerJob ?? DEFAULT_MAX_EVENTS_PER_JOB;
    if (!Number.isSafeInteger(options.ttlSeconds) || options.ttlSeconds < 1) {
      throw new RangeError(`ttlSeconds must be a positive integer, got ${options.ttlSeconds}`);
    }
    if (!Number.isSafeInteger(maxEvents) || maxEvents < 1) {
      throw new RangeError(`maxEventsPerJob must be a positive integer, got ${maxEvents}`);
    }
    this.keys = liveKeys(options.prefix);
    this.rates = new QueueRates(redis, options.prefix);
    this.ttl = String(options.ttlSeconds);
    this.maxEvents = String(maxEvents);
    redis.defineCommand(APPLY_COMMAND, { lua: APPLY_EVENTS_LUA });
  }

  /**
   * Applies events (any jobs, any order, repeats allowed) with one script call per chunk of
   * APPLY_CHUNK_EVENTS events, all pipelined in one round trip; see apply-event.script.ts. Returns
   * per input event whether it advanced that job's live state. Safe to retry after a failure: a
   * repeated event changes nothing but the queue's start or finish counter (QueueRates), which the
   * same round trip updates.
   */
  async applyEvents(events: readonly JobEventInput[]): Promise<boolean[]> {
    if (events.length === 0) return [];
    events.forEach((e, index) => {
      if (!Number.isFinite(e.data.seq)) {
        throw new RangeError(`event ${index} (job ${e.data.jobId}) has no finite seq`);
      }
    });
    const pipeline = this.redis.pipeline() as ChainableCommander & ApplyEventsCommand;
    for (let start = 0; start < events.length; start += APPLY_CHUNK_EVENTS) {
      pipeline[APPLY_COMMAND](
        ...this.chunkArgs(events, start, Math.min(events.length, start + APPLY_CHUNK_EVENTS)),
      );
    }
    const calls = pipeline.length;
    this.rates.append(pipeline, events);
    const results: boolean[] = [];
    for (const reply of (await execPipeline(pipeline)).slice(0, calls)) {
      for (const advanced of reply as number[]) results.push(advanced === 1);
    }
    return results;
  }

  /**
   * The arguments of one script call for events[start, end). Only each job's newest event of the
   * chunk carries the live hash values: if any event of the job advances its state, the newest does
   * and its state is the final one (latest wins), so the others need only their log entry.
   */
  private chunkArgs(events: readonly JobEventInput[], start: number, end: number): ChunkArgs {
    const keys: string[] = [];
    const jobs = new Map<string, { number: string; newest: number }>();
    for (let i = start; i < end; i += 1) {
      const d = events[i].data;
      const job = jobs.get(d.jobId);
      if (job === undefined) {
        keys.push(this.keys.live(d.jobId), this.keys.events(d.jobId));
        jobs.set(d.jobId, { number: String(keys.length / 2), newest: i });
      } else if (d.seq > events[job.newest].data.seq) {
        job.newest = i;
      }
    }
    const argv: string[] = [this.ttl, this.maxEvents, this.keys.channel];
    for (let i = start; i < end; i += 1) {
      const e = events[i];
      const job = jobs.get(e.data.jobId)!;
      const newest = job.newest === i;
      argv.push(job.number, String(e.data.seq), encodeStoredEvent(e), newest ? '1' : '0');
      if (newest) appendLiveValues(argv, e.data, e.time);
    }
    return [String(keys.length), keys, argv];
  }

  async getLive(jobId: string): Promise<LiveProgress | null> {
    return decodeLive(await this.redis.hgetall(this.keys.live(jobId)));
  }

  /** In the order of `jobIds`, null where a job has no live state; one round trip. */
  async getLiveMany(jobIds: readonly string[]): Promise<(LiveProgress | null)[]> {
    if (jobIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of jobIds) pipeline.hgetall(this.keys.live(id));
    const replies = await execPipeline(pipeline);
    return replies.map((hash) => decodeLive(hash as Record<string, string>));
  }

  /** The job's logged events in ascending seq, only those with seq > afterSeq when given. */
  async readEvents(jobId: string, afterSeq?: number): Promise<StoredJobEvent[]> {
    const min = afterSeq === undefined ? '-inf' : `(${afterSeq}`;
    const members = await this.redis.zrangebyscore(this.keys.events(jobId), min, '+inf');
    return members.map(decodeStoredEvent).filter((e): e is StoredJobEvent => e !== null);
  }

  async deleteJob(jobId: string): Promise<void> {
    await this.redis.del(this.keys.live(jobId), this.keys.events(jobId));
  }
}
