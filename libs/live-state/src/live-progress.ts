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

/** Hash fields every state has, in the order appendLiveValues passes them. */
export const LIVE_REQUIRED_FIELDS = [
  'jobId',
  'tenant',
  'type',
  'queue',
  'status',
  'progress',
  'attempt',
  'seq',
  'updatedAt',
] as const;
/** Hash fields that may be absent: null or undefined values are removed from the hash, not stored. */
export const LIVE_OPTIONAL_FIELDS = ['step', 'message', 'error', 'resultUrl'] as const;
/** Values appendLiveValues adds per state. */
export const LIVE_VALUES = LIVE_REQUIRED_FIELDS.length + LIVE_OPTIONAL_FIELDS.length + 1;

/**
 * Appends the hash values for the state an event describes (every event carries the job's full
 * state) to `out`, positionally: LIVE_REQUIRED_FIELDS' values, LIVE_OPTIONAL_FIELDS' values ('' when
 * absent), then one '1' (store) or '0' (remove from the hash) per optional field. Positional and
 * appended in place because the tracker encodes thousands of these per second.
 */
export function appendLiveValues(out: string[], data: JobEventData, time: string): void {
  const step = data.step ?? undefined;
  const message = data.message ?? undefined;
  const error = data.error ? JSON.stringify(data.error) : undefined;
  const resultUrl = data.resultUrl;
  out.push(
    data.jobId,
    data.tenant,
    data.type,
    data.queue,
    data.status,
    String(data.progress),
    String(data.attempt),
    String(data.seq),
    time,
    step ?? '',
    message ?? '',
    error ?? '',
    resultUrl ?? '',
    (step === undefined ? '0' : '1') +
      (message === undefined ? '0' : '1') +
      (error === undefined ? '0' : '1') +
      (resultUrl === undefined ? '0' : '1'),
  );
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
