import type { ChainableCommander, Redis } from 'ioredis';
import { APPLY_EVENT_LUA } from './apply-event.script';
import { liveKeys, type LiveKeys } from './live-keys';
import {
  decodeLive,
  decodeStoredEvent,
  encodeLive,
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
// NOSCRIPT (e.g. after a Redis restart flushed the script cache), in pipelines too.
const APPLY_COMMAND = 'switchyardApplyJobEvent';
type ApplyEventCommand = {
  [APPLY_COMMAND](liveKey: string, eventsKey: string, ...argv: string[]): unknown;
};

/** Live progress and per-job event logs in Redis, written by the progress-tracker, read by the gateway. */
export class LiveProgressStore {
  readonly keys: LiveKeys;
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
    this.ttl = String(options.ttlSeconds);
    this.maxEvents = String(maxEvents);
    redis.defineCommand(APPLY_COMMAND, { numberOfKeys: 2, lua: APPLY_EVENT_LUA });
  }

  /**
   * Applies events (any jobs, any order, repeats allowed) in one pipelined round trip; see
   * apply-event.script.ts. Returns per input event whether it advanced that job's live state.
   * Safe to retry after a failure: a repeated event changes nothing.
   */
  async applyEvents(events: readonly JobEventInput[]): Promise<boolean[]> {
    if (events.length === 0) return [];
    events.forEach((e, index) => {
      if (!Number.isFinite(e.data.seq)) {
        throw new RangeError(`event ${index} (job ${e.data.jobId}) has no finite seq`);
      }
    });
    const pipeline = this.redis.pipeline() as ChainableCommander & ApplyEventCommand;
    for (const e of events) {
      const { set, unset } = encodeLive(e.data, e.time);
      pipeline[APPLY_COMMAND](
        this.keys.live(e.data.jobId),
        this.keys.events(e.data.jobId),
        String(e.data.seq),
        encodeStoredEvent(e),
        this.ttl,
        this.maxEvents,
        this.keys.channel,
        String(set.length),
        ...set.flat(),
        ...unset,
      );
    }
    return (await execPipeline(pipeline)).map((reply) => reply === 1);
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

/** Runs a pipeline and returns its replies, throwing the first command error. */
async function execPipeline(pipeline: ChainableCommander): Promise<unknown[]> {
  const results = await pipeline.exec();
  if (results === null) throw new Error('Redis pipeline was discarded');
  return results.map(([error, reply]) => {
    if (error) throw error;
    return reply;
  });
}
