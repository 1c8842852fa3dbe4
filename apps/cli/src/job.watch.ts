import { isJobStatus, isTerminal, type JobError, type JobStatus, type JobView } from '@switchyard/contracts';
import { ApiRequestError, ConnectionError, type ApiClient } from './api.client';
import { toError } from './cli.errors';
import { readSse } from './sse.stream';

/** What the progress display needs: the fields a job event and a job share. */
export interface JobProgress {
  status: JobStatus;
  step: string | null;
  progress: number;
  message: string | null;
  attempt?: number;
  error?: JobError | null;
  createdAt?: string | null;
  startedAt?: string | null;
  finishedAt?: string | null;
  estimatedWaitMs?: number;
}

/**
 * Where a state sits in a job's life, so a watch never shows a state the job did not pass
 * through (a stale snapshot or a replayed event after a newer read). `attempt` is the attempts
 * made: queued/retrying before attempt n+1 sit between running n and running n+1; the end is last.
 * Undefined when the update lacks the attempt to place it.
 */
export function lifePosition(p: JobProgress): number | undefined {
  if (isTerminal(p.status)) return Infinity;
  if (p.attempt === undefined) return undefined;
  return p.status === 'running' ? 2 * p.attempt : 2 * p.attempt + 1;
}

/** Whether `next` may follow `shown` on screen: only forward in the job's life, never back. */
export function followsOn(shown: JobProgress | undefined, next: JobProgress): boolean {
  if (shown === undefined) return true;
  if (isTerminal(shown.status)) return isTerminal(next.status);
  const from = lifePosition(shown);
  const to = lifePosition(next);
  if (from !== undefined && to !== undefined) return to >= from;
  // Without attempts to compare, only a step back to queued is provably one the job did not take.
  return !(next.status === 'queued' && shown.status !== 'queued');
}

export interface WatchOptions {
  onUpdate: (progress: JobProgress) => void;
  signal?: AbortSignal;
  /** Reconnect attempts in a row without receiving anything before giving up. */
  maxReconnects?: number;
  /** How long to wait for GET /jobs/{id} to catch up with a terminal event. */
  settleMs?: number;
}

export async function getJob(client: ApiClient, id: string, signal?: AbortSignal): Promise<JobView> {
  return (await client.json<JobView>('GET', `/jobs/${encodeURIComponent(id)}`, { signal })).body;
}

/**
 * Follows a job until it is terminal: the SSE stream drives the display; the job itself is read
 * again at the end because events carry no result. Resumes with Last-Event-ID when the stream
 * drops, and falls back to reading the job when it keeps dropping.
 */
export async function watchJob(
  client: ApiClient,
  id: string,
  initial: JobView | undefined,
  options: WatchOptions,
): Promise<JobView> {
  const { signal } = options;
  const maxReconnects = options.maxReconnects ?? 5;
  let shown: JobProgress | undefined;
  const onUpdate = (progress: JobProgress) => {
    if (!followsOn(shown, progress)) return;
    shown = progress;
    options.onUpdate(progress);
  };
  let job = initial ?? (await getJob(client, id, signal));
  onUpdate(progressOfJob(job));
  if (isTerminal(job.status)) return job;

  // Mutated from the SSE callback, hence an object rather than narrowed locals.
  const stream: { lastEventId?: string; lastSeq: number; terminal?: JobProgress; received: boolean } = {
    lastSeq: -Infinity,
    received: false,
  };
  let failures = 0;
  for (;;) {
    stream.received = false;
    let failure: unknown;
    try {
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      if (stream.lastEventId !== undefined) headers['last-event-id'] = stream.lastEventId;
      const response = await client.send('GET', `/jobs/${encodeURIComponent(id)}/events`, {
        headers,
        timeoutMs: null,
        signal,
      });
      if (response.body === null) throw new Error('event stream has no body');
      await readSse(response.body as ReadableStream<Uint8Array>, (message) => {
        stream.received = true;
        if (message.id !== undefined && message.id !== '') stream.lastEventId = message.id;
        const update = parseEvent(message.data);
        if (update === undefined) return;
        // A snapshot restates the current state; events older than what we showed are dropped.
        if (update.seq !== undefined) {
          if (message.event !== 'snapshot' && update.seq <= stream.lastSeq) return;
          stream.lastSeq = Math.max(stream.lastSeq, update.seq);
        }
        onUpdate(update.progress);
        if (isTerminal(update.progress.status)) {
          stream.terminal = update.progress;
          return 'stop';
        }
      });
    } catch (error) {
      if (signal?.aborted === true || error instanceof ApiRequestError) throw error;
      failure = error;
    }
    if (stream.terminal !== undefined) {
      return settle(client, id, job, stream.terminal, options.settleMs ?? 3000, signal);
    }
    failures = stream.received ? 0 : failures + 1;
    if (failures > maxReconnects) {
      throw toError(failure, `the event stream of job ${id} keeps closing early`);
    }
    // The job may have ended while no stream was open; a gateway restart is worth riding out.
    try {
      job = await getJob(client, id, signal);
    } catch (error) {
      if (!(error instanceof ConnectionError)) throw error;
    }
    if (isTerminal(job.status)) {
      onUpdate(progressOfJob(job));
      return job;
    }
    await delay(Math.min(250 * 2 ** failures, 2000), signal);
  }
}

/** The tracker may write the final row a moment after the event; wait briefly for it. */
async function settle(
  client: ApiClient,
  id: string,
  last: JobView,
  terminal: JobProgress,
  settleMs: number,
  signal: AbortSignal | undefined,
): Promise<JobView> {
  const deadline = Date.now() + settleMs;
  for (;;) {
    const job = await getJob(client, id, signal);
    if (isTerminal(job.status)) return job;
    if (Date.now() >= deadline) break;
    await delay(150, signal);
  }
  return {
    ...last,
    status: terminal.status,
    step: terminal.step,
    progress: terminal.progress,
    message: terminal.message,
    error: terminal.error ?? last.error,
  };
}

export function progressOfJob(job: JobView): JobProgress {
  return {
    status: job.status,
    step: job.step,
    progress: job.progress,
    message: job.message,
    attempt: job.attempts,
    error: job.error,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    estimatedWaitMs: job.estimatedWaitMs,
  };
}

/**
 * SSE `data`: a CloudEvent whose `data` holds the job event fields, or (for the snapshot) the job
 * itself, bare or wrapped. Anything else is ignored rather than fatal.
 */
export function parseEvent(text: string): { progress: JobProgress; seq?: number } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const candidates = [field(value, 'data'), field(value, 'job'), value];
  for (const candidate of candidates) {
    const progress = asProgress(candidate);
    if (progress !== undefined) {
      const seq = field(candidate, 'seq');
      return { progress, seq: typeof seq === 'number' ? seq : undefined };
    }
  }
  return undefined;
}

function asProgress(value: unknown): JobProgress | undefined {
  const status = field(value, 'status');
  if (!isJobStatus(status)) return undefined;
  const progress = field(value, 'progress');
  const attempt = field(value, 'attempt') ?? field(value, 'attempts');
  const waitMs = field(value, 'estimatedWaitMs');
  return {
    status,
    step: stringOrNull(field(value, 'step')),
    progress: typeof progress === 'number' ? progress : 0,
    message: stringOrNull(field(value, 'message')),
    attempt: typeof attempt === 'number' ? attempt : undefined,
    error: asJobError(field(value, 'error')),
    createdAt: stringOrNull(field(value, 'createdAt')),
    startedAt: stringOrNull(field(value, 'startedAt')),
    finishedAt: stringOrNull(field(value, 'finishedAt')),
    estimatedWaitMs: typeof waitMs === 'number' ? waitMs : undefined,
  };
}

function asJobError(value: unknown): JobError | null {
  const code = field(value, 'code');
  if (typeof code !== 'string') return null;
  const message = field(value, 'message');
  return {
    code,
    message: typeof message === 'string' ? message : '',
    retryable: field(value, 'retryable') === true,
  };
}

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener('abort', abort);
      resolve();
    }
    function abort(): void {
      clearTimeout(timer);
      reject(toError(signal?.reason, 'aborted'));
    }
    signal?.addEventListener('abort', abort, { once: true });
  });
}
