import {
  isJobStatus,
  JOB_EVENTS,
  type JobError,
  type JobEventData,
  type JobEventName,
  type JobStatus,
} from '@switchyard/contracts';

/** The latest known state of a job, as held in Redis (a read model; PostgreSQL is the record). */
export interface LiveProgress {
  jobId: string;
  tenant: string;
  type: string;
  queue: string;
  status: JobStatus;
  step: string | null;
  progress: number;
  message: string | null;
  attempt: number;
  seq: number;
  /** `time` of the event that produced this state. */
  updatedAt: string;
  error?: JobError;
  resultUrl?: string;
}

/** One entry of a job's event log; also the message published for SSE fan-out. */
export interface StoredJobEvent {
  seq: number;
  event: JobEventName;
  data: JobEventData;
  time: string;
  correlationId: string;
}

export interface JobEventInput {
  event: JobEventName;
  data: JobEventData;
  time: string;
  correlationId: string;
}

/** Hash fields that may be absent: null or undefined values are removed from the hash, not stored. */
const OPTIONAL_FIELDS = ['step', 'message', 'error', 'resultUrl'] as const;

export interface LiveHashUpdate {
  set: [field: string, value: string][];
  unset: string[];
}

/** The hash fields for the state an event describes (every event carries the job's full state). */
export function encodeLive(data: JobEventData, time: string): LiveHashUpdate {
  const set: [string, string][] = [
    ['jobId', data.jobId],
    ['tenant', data.tenant],
    ['type', data.type],
    ['queue', data.queue],
    ['status', data.status],
    ['progress', String(data.progress)],
    ['attempt', String(data.attempt)],
    ['seq', String(data.seq)],
    ['updatedAt', time],
  ];
  const optional: Record<(typeof OPTIONAL_FIELDS)[number], string | undefined> = {
    step: data.step ?? undefined,
    message: data.message ?? undefined,
    error: data.error ? JSON.stringify(data.error) : undefined,
    resultUrl: data.resultUrl,
  };
  const unset: string[] = [];
  for (const field of OPTIONAL_FIELDS) {
    const value = optional[field];
    if (value === undefined) unset.push(field);
    else set.push([field, value]);
  }
  return { set, unset };
}

/**
 * Parses a live hash (Redis returns every value as a string). An empty or malformed hash is
 * reported as absent, so readers fall back to PostgreSQL instead of failing.
 */
export function decodeLive(hash: Record<string, string>): LiveProgress | null {
  const { jobId, tenant, type, queue, status, updatedAt } = hash;
  const progress = Number(hash.progress);
  const attempt = Number(hash.attempt);
  const seq = Number(hash.seq);
  if (
    jobId === undefined ||
    tenant === undefined ||
    type === undefined ||
    queue === undefined ||
    updatedAt === undefined ||
    !isJobStatus(status) ||
    hash.progress === undefined ||
    hash.attempt === undefined ||
    hash.seq === undefined ||
    !Number.isFinite(progress) ||
    !Number.isFinite(attempt) ||
    !Number.isFinite(seq)
  ) {
    return null;
  }
  const live: LiveProgress = {
    jobId,
    tenant,
    type,
    queue,
    status,
    step: hash.step ?? null,
    progress,
    message: hash.message ?? null,
    attempt,
    seq,
    updatedAt,
  };
  if (hash.error !== undefined) {
    const error = parseJson(hash.error);
    if (isJobError(error)) live.error = error;
  }
  if (hash.resultUrl !== undefined) live.resultUrl = hash.resultUrl;
  return live;
}

export function encodeStoredEvent(input: JobEventInput): string {
  const stored: StoredJobEvent = {
    seq: input.data.seq,
    event: input.event,
    data: input.data,
    time: input.time,
    correlationId: input.correlationId,
  };
  return JSON.stringify(stored);
}

/** Parses an event-log member or a message from the events channel; null when it is not one. */
export function decodeStoredEvent(json: string): StoredJobEvent | null {
  const value = parseJson(json);
  if (typeof value !== 'object' || value === null) return null;
  const e = value as Partial<StoredJobEvent>;
  if (
    typeof e.seq !== 'number' ||
    typeof e.time !== 'string' ||
    typeof e.correlationId !== 'string' ||
    !(JOB_EVENTS as readonly unknown[]).includes(e.event) ||
    typeof e.data !== 'object' ||
    e.data === null ||
    typeof e.data.jobId !== 'string'
  ) {
    return null;
  }
  return e as StoredJobEvent;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isJobError(value: unknown): value is JobError {
  if (typeof value !== 'object' || value === null) return false;
  const e = value as Partial<JobError>;
  return typeof e.code === 'string' && typeof e.message === 'string' && typeof e.retryable === 'boolean';
}
