import { randomUUID } from 'node:crypto';
import { isJobStatus } from './job-status';
import type { JobCloudEvent, JobEventData } from './messages';
import { eventCloudType, JOB_EVENTS, type JobEventName } from './routing';

export function createJobEvent(
  service: string,
  event: JobEventName,
  data: JobEventData,
  correlationId: string,
): JobCloudEvent {
  return {
    specversion: '1.0',
    id: randomUUID(),
    source: `switchyard/${service}`,
    type: eventCloudType(event),
    subject: data.jobId,
    time: new Date().toISOString(),
    correlationid: correlationId,
    datacontenttype: 'application/json',
    data,
  };
}

const EVENT_TYPES = new Set(JOB_EVENTS.map(eventCloudType));

/** Structural check for events arriving from the broker; anything else is a poison message. */
export function isJobCloudEvent(value: unknown): value is JobCloudEvent {
  if (typeof value !== 'object' || value === null) return false;
  const e = value as Partial<JobCloudEvent>;
  const d = e.data as Partial<JobEventData> | undefined;
  return (
    e.specversion === '1.0' &&
    typeof e.id === 'string' &&
    typeof e.type === 'string' &&
    EVENT_TYPES.has(e.type) &&
    typeof d === 'object' &&
    d !== null &&
    typeof d.jobId === 'string' &&
    typeof d.tenant === 'string' &&
    typeof d.seq === 'number' &&
    Number.isFinite(d.seq) &&
    typeof d.progress === 'number' &&
    typeof d.attempt === 'number' &&
    isJobStatus(d.status)
  );
}
