import type { Redis } from 'ioredis';
import type { JobLogEvent } from '@switchyard/contracts';

/** Pub/sub channel of stored `ctx.log` lines (`<REDIS_PREFIX>logs`): the gateways' SSE `log` events. */
export function jobLogChannel(prefix: string): string {
  return `${prefix}logs`;
}

/**
 * Publishes lines just stored, one message per job, in one pipeline. Best effort: the lines are
 * in PostgreSQL already, and a stream that missed them reads them from `GET /jobs/{id}/logs`.
 */
export async function publishJobLogs(
  redis: Redis,
  prefix: string,
  events: readonly JobLogEvent[],
): Promise<void> {
  if (!events.length) return;
  const channel = jobLogChannel(prefix);
  const pipeline = redis.pipeline();
  for (const event of events) pipeline.publish(channel, JSON.stringify(event));
  await pipeline.exec();
}

/** A message of the log channel, or undefined when it is not one. */
export function decodeJobLogEvent(message: string): JobLogEvent | undefined {
  try {
    // Written by the workers only (JobLogWriter): the shape is checked, not each line again.
    const value = JSON.parse(message) as Partial<JobLogEvent> | null;
    return typeof value?.jobId === 'string' && Array.isArray(value.lines)
      ? (value as JobLogEvent)
      : undefined;
  } catch {
    return undefined;
  }
}
