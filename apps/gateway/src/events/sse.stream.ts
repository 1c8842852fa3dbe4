import type { ServerResponse } from 'node:http';
import {
  createJobEvent,
  isTerminal,
  type JobCloudEvent,
  type JobEventName,
  type JobLogEvent,
} from '@switchyard/contracts';
import type { StoredJobEvent } from '@switchyard/live-state';

/** `log` events held while the snapshot is read; more are left to `GET /jobs/{id}/logs`. */
const MAX_BUFFERED_LOGS = 100;

/** A client that stops reading is dropped once this much is waiting for it (it can resume). */
const MAX_BUFFERED_BYTES = 1024 * 1024;

/** A stored event as the CloudEvent the SSE `data:` carries (SPEC §5 shape). */
export function toCloudEvent(e: StoredJobEvent): JobCloudEvent {
  // Its id is the job and seq, so a replayed event keeps the id it was first sent with.
  return createJobEvent('gateway', e.event, e.data, e.correlationId, {
    id: `${e.data.jobId}:${e.seq}`,
    time: e.time,
  });
}

/** SSE event name of a job event: `job.progress`, `job.completed`, … (the AMQP routing key). */
export const sseEventName = (event: JobEventName) => `job.${event}`;

/**
 * One open `text/event-stream` response. Writes are framed per the SSE format; a slow reader is
 * cut off instead of buffering without bound.
 */
export class SseStream {
  private open = true;
  private readonly closeListeners: (() => void)[] = [];

  constructor(
    private readonly res: ServerResponse,
    /** The API key this stream counts against (SSE clients per key are bounded). */
    readonly keyId: string,
  ) {
    res.on('close', () => this.markClosed());
  }

  /** Sends the status line and headers (plus those the request already set, e.g. RateLimit-*). */
  start(headers: Record<string, string>, retryMs: number): void {
    this.res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    this.write(`retry: ${retryMs}\n\n`);
  }

  get isOpen(): boolean {
    return this.open;
  }

  send(event: string, data: unknown, id?: string | number): void {
    const lines = [`event: ${event}`];
    if (id !== undefined) lines.push(`id: ${id}`);
    lines.push(`data: ${JSON.stringify(data)}`);
    this.write(`${lines.join('\n')}\n\n`);
  }

  comment(text: string): void {
    this.write(`: ${text}\n\n`);
  }

  end(): void {
    if (!this.open) return;
    this.res.end();
    this.markClosed();
  }

  onClose(listener: () => void): void {
    if (this.open) this.closeListeners.push(listener);
    else listener();
  }

  private write(chunk: string): void {
    if (!this.open) return;
    if (this.res.writableLength > MAX_BUFFERED_BYTES) {
      this.res.destroy();
      this.markClosed();
      return;
    }
    this.res.write(chunk);
  }

  private markClosed(): void {
    if (!this.open) return;
    this.open = false;
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}

/**
 * The events of one job for one stream, in `seq` order, each once: events that arrive while the
 * snapshot and the replay are being read wait in a buffer; anything at or below the last sent
 * `seq` is dropped; the stream ends after the terminal event.
 */
export class JobEventSink {
  private buffer: StoredJobEvent[] | null = [];
  private logs: JobLogEvent[] = [];
  private lastSeq = -Infinity;

  constructor(
    readonly jobId: string,
    readonly stream: SseStream,
  ) {}

  /** Live events from the fan-out; buffered until `flush`. */
  push(event: StoredJobEvent): void {
    if (this.buffer) this.buffer.push(event);
    else this.deliver(event);
  }

  /**
   * Lines the job's handler logged, as `log` events (without an `id:`, so Last-Event-ID stays the
   * last job event's). They carry no sequence: a resumed stream reads missed lines from
   * `GET /jobs/{id}/logs`.
   */
  pushLog(event: JobLogEvent): void {
    if (this.buffer) {
      if (this.logs.length < MAX_BUFFERED_LOGS) this.logs.push(event);
    } else if (this.stream.isOpen) this.stream.send('log', event);
  }

  /** Sends events from the log (resume) directly. */
  replay(events: readonly StoredJobEvent[]): void {
    for (const event of events) this.deliver(event);
  }

  /** Everything up to `seq` is known to the client (the snapshot or its Last-Event-ID). */
  acknowledge(seq: number): void {
    this.lastSeq = Math.max(this.lastSeq, seq);
  }

  /** Stops buffering: sends what arrived meanwhile, in order. */
  flush(): void {
    const pending = (this.buffer ?? []).sort((a, b) => a.seq - b.seq);
    this.buffer = null;
    for (const event of this.logs.splice(0)) this.pushLog(event);
    for (const event of pending) this.deliver(event);
  }

  private deliver(event: StoredJobEvent): void {
    if (!this.stream.isOpen || event.seq <= this.lastSeq) return;
    this.lastSeq = event.seq;
    this.stream.send(sseEventName(event.event), toCloudEvent(event), event.seq);
    if (isTerminal(event.data.status)) this.stream.end();
  }
}

/**
 * Every event of a tenant's jobs (null: every tenant) for one stream, after its snapshot; with
 * `flowId`, only that flow's jobs. `afterTerminal` runs after each terminal event sent (a flow
 * stream then checks whether the whole flow finished).
 */
export class TenantEventSink {
  private buffer: StoredJobEvent[] | null = [];

  constructor(
    readonly tenant: string | null,
    readonly filters: { type?: string; queue?: string; flowId?: string },
    readonly stream: SseStream,
    private readonly afterTerminal?: () => void,
  ) {}

  matches(event: StoredJobEvent): boolean {
    return (
      (this.tenant === null || this.tenant === event.data.tenant) &&
      (this.filters.type === undefined || this.filters.type === event.data.type) &&
      (this.filters.queue === undefined || this.filters.queue === event.data.queue) &&
      (this.filters.flowId === undefined || this.filters.flowId === event.data.flowId)
    );
  }

  push(event: StoredJobEvent): void {
    if (this.buffer) {
      this.buffer.push(event);
      return;
    }
    this.stream.send(sseEventName(event.event), toCloudEvent(event), `${event.data.jobId}:${event.seq}`);
    if (this.afterTerminal && isTerminal(event.data.status)) this.afterTerminal();
  }

  /** The snapshot went out: send what arrived meanwhile, then stream live. */
  flush(): void {
    const pending = this.buffer ?? [];
    this.buffer = null;
    for (const event of pending) this.push(event);
  }
}
