import { errorFromResponse, SwitchyardConnectionError } from './errors';
import { parseEventStream } from './sse';
import type {
  BatchResponse,
  Flow,
  FlowActionResult,
  FlowList,
  FlowListQuery,
  FlowRequest,
  FlowSummary,
  FlowToken,
  FlowWatchEvent,
  Job,
  JobDetail,
  JobSubmission,
  JobSummary,
  JobSummaryList,
  JobToken,
  ListQuery,
  PageQuery,
  Schedule,
  ScheduleBackfill,
  ScheduleBackfillResult,
  ScheduleList,
  SchedulePatch,
  ScheduleRequest,
  ScheduleTriggerResult,
  SubmittedFlow,
  SubmittedJob,
  UploadedFile,
  WatchEvent,
  WebhookDelivery,
  WebhookDeliveryList,
  WebhookEndpoint,
  WebhookEndpointCreated,
  WebhookEndpointPatch,
  WebhookEndpointRequest,
} from './types';

export interface SwitchyardOptions {
  /** The gateway's origin, e.g. `http://127.0.0.1:3000`. */
  baseUrl: string;
  /** An API key (server side). */
  apiKey?: string;
  /** A job token (browsers): only get, watch and result of that job; or a flow token: flows.get and flows.watch of that flow. */
  token?: string;
  /** fetch to use (default: the global one). */
  fetch?: typeof fetch;
  /** Retries of a 429 or 503 answer, waiting Retry-After (default 3). */
  maxRetries?: number;
  /** Per-request timeout in ms for non-streaming calls (default 30000). */
  timeoutMs?: number;
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
  /** null: no timeout (streams). */
  timeoutMs?: number | null;
  signal?: AbortSignal;
  /** Retry 429/503 (default true). */
  retry?: boolean;
}

export interface WatchOptions {
  signal?: AbortSignal;
  /** Resume after this event id (seq). */
  lastEventId?: string;
  /** Reconnects after a dropped stream before giving up (default 10). */
  maxReconnects?: number;
}

export interface JobResult {
  contentType: string;
  /** Content-Length, when the gateway sent one (artifacts). */
  size: number | undefined;
  /** The bytes; read it once (or call json/bytes). */
  stream: ReadableStream<Uint8Array>;
  json(): Promise<unknown>;
  bytes(): Promise<Uint8Array>;
}

/** Every route the SDK calls, as the OpenAPI document names it (checked against it in CI). */
export const SDK_ROUTES = [
  'POST /api/v1/jobs',
  'POST /api/v1/jobs/batch',
  'GET /api/v1/jobs',
  'GET /api/v1/jobs/{id}',
  'POST /api/v1/jobs/{id}/cancel',
  'POST /api/v1/jobs/{id}/retry',
  'GET /api/v1/jobs/{id}/events',
  'GET /api/v1/jobs/{id}/result',
  'POST /api/v1/jobs/{id}/tokens',
  'POST /api/v1/files',
  'POST /api/v1/flows',
  'GET /api/v1/flows',
  'GET /api/v1/flows/{id}',
  'DELETE /api/v1/flows/{id}',
  'POST /api/v1/flows/{id}/retry',
  'GET /api/v1/flows/{id}/events',
  'POST /api/v1/flows/{id}/tokens',
  'POST /api/v1/schedules',
  'GET /api/v1/schedules',
  'GET /api/v1/schedules/{id}',
  'PATCH /api/v1/schedules/{id}',
  'DELETE /api/v1/schedules/{id}',
  'POST /api/v1/schedules/{id}/pause',
  'POST /api/v1/schedules/{id}/resume',
  'POST /api/v1/schedules/{id}/trigger',
  'POST /api/v1/schedules/{id}/backfill',
  'GET /api/v1/schedules/{id}/runs',
  'POST /api/v1/webhooks',
  'GET /api/v1/webhooks',
  'GET /api/v1/webhooks/{id}',
  'PATCH /api/v1/webhooks/{id}',
  'DELETE /api/v1/webhooks/{id}',
  'POST /api/v1/webhooks/{id}/rotate-secret',
  'GET /api/v1/webhooks/{id}/deliveries',
  'POST /api/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver',
] as const;

/** A request body fetch accepts (BodyInit, named so in every runtime's types). */
type RequestBody = NonNullable<RequestInit['body']>;

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
const DEFAULT_TIMEOUT_MS = 30000;
const RETRY_AFTER_MAX_MS = 60000;
const RECONNECT_DELAY_MS = 500;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason as Error);
      },
      { once: true },
    );
  });

const path = (id: string, rest = '') => `/jobs/${encodeURIComponent(id)}${rest}`;
const flowPath = (id: string, rest = '') => `/flows/${encodeURIComponent(id)}${rest}`;
const schedulePath = (id: string, rest = '') => `/schedules/${encodeURIComponent(id)}${rest}`;

/** How `follow` reads one event stream. */
interface Follow {
  /** Send `Last-Event-ID` on a reconnect (a job's stream resumes after it). */
  resume: boolean;
  /** This message is the last one: the iterator ends after yielding it. */
  last(event: string, data: unknown): boolean;
  /** The stream ended cleanly before the last message: what to yield before ending, or undefined to reconnect. */
  ended?(): Promise<{ event: string; data: unknown } | undefined>;
}

/**
 * The Switchyard REST and SSE client. Runs wherever `fetch`, `ReadableStream`, `TextDecoder` and
 * Web Crypto exist: browsers, Node ≥ 20, Deno, Bun.
 */
export class Switchyard {
  readonly apiBase: string;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: SwitchyardOptions) {
    this.apiBase = `${options.baseUrl.replace(/\/+$/, '')}/api/v1`;
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** Submits one job (202 new, 200 deduplicated / idempotent replay / cached). */
  submit(
    job: JobSubmission,
    options: { idempotencyKey?: string; signal?: AbortSignal } = {},
  ): Promise<SubmittedJob> {
    const headers: Record<string, string> = options.idempotencyKey
      ? { 'idempotency-key': options.idempotencyKey }
      : {};
    return this.json<SubmittedJob>('POST', '/jobs', { body: job, headers, signal: options.signal });
  }

  /** Submits up to BATCH_MAX_ITEMS jobs, all or nothing. */
  submitBatch(jobs: JobSubmission[], options: { signal?: AbortSignal } = {}): Promise<BatchResponse> {
    return this.json<BatchResponse>('POST', '/jobs/batch', { body: { jobs }, signal: options.signal });
  }

  get(id: string, options: { signal?: AbortSignal } = {}): Promise<JobDetail> {
    return this.json<JobDetail>('GET', path(id), { signal: options.signal });
  }

  /** Every job matching `query`, following `nextCursor` page after page. */
  list(query: ListQuery = {}, options: { signal?: AbortSignal } = {}): AsyncGenerator<JobSummary> {
    return this.pages<JobSummaryList['items'][number]>('/jobs', query, options.signal);
  }

  cancel(id: string, options: { signal?: AbortSignal } = {}): Promise<Job> {
    return this.json<Job>('POST', path(id, '/cancel'), { signal: options.signal });
  }

  retry(id: string, options: { signal?: AbortSignal } = {}): Promise<Job> {
    return this.json<Job>('POST', path(id, '/retry'), { signal: options.signal });
  }

  /** A read-only token for one job, to hand to a browser (`new Switchyard({baseUrl, token})`). */
  createToken(id: string, ttlSeconds?: number): Promise<JobToken> {
    return this.json<JobToken>('POST', path(id, '/tokens'), {
      body: ttlSeconds === undefined ? {} : { ttlSeconds },
    });
  }

  /**
   * The job's events: a `snapshot`, then each lifecycle event, until the terminal one. A dropped
   * stream is resumed with `Last-Event-ID`, so no event is missed or repeated.
   */
  watch(id: string, options: WatchOptions = {}): AsyncGenerator<WatchEvent> {
    return this.follow<WatchEvent>(path(id, '/events'), options, {
      resume: true,
      last: (event, data) =>
        event === 'snapshot'
          ? // A snapshot is the job itself (JobSnapshot: the job view with its seq).
            TERMINAL.has((data as { status?: string }).status ?? '')
          : TERMINAL.has(event.slice(4)),
    });
  }

  /** A completed job's result: artifact bytes or the inline JSON, as a stream. */
  async result(id: string, options: { signal?: AbortSignal } = {}): Promise<JobResult> {
    const response = await this.send('GET', path(id, '/result'), { timeoutMs: null, signal: options.signal });
    const length = response.headers.get('content-length');
    return {
      contentType: response.headers.get('content-type') ?? 'application/octet-stream',
      size: length === null ? undefined : Number(length),
      stream: response.body as ReadableStream<Uint8Array>,
      json: () => response.json(),
      bytes: async () => new Uint8Array(await response.arrayBuffer()),
    };
  }

  readonly files = {
    /** Uploads an input file (raw body); use its `fileId` in a payload. */
    upload: (
      data: Blob | Uint8Array | ArrayBuffer | string,
      contentType = 'application/octet-stream',
    ): Promise<UploadedFile> =>
      this.json<UploadedFile>('POST', '/files', {
        rawBody: data as RequestBody,
        headers: { 'content-type': contentType },
      }),
  };

  readonly webhooks = {
    create: (body: WebhookEndpointRequest) =>
      this.json<WebhookEndpointCreated>('POST', '/webhooks', { body }),
    list: () => this.json<{ items: WebhookEndpoint[] }>('GET', '/webhooks'),
    get: (id: string) => this.json<WebhookEndpoint>('GET', `/webhooks/${encodeURIComponent(id)}`),
    update: (id: string, patch: WebhookEndpointPatch) =>
      this.json<WebhookEndpoint>('PATCH', `/webhooks/${encodeURIComponent(id)}`, { body: patch }),
    delete: async (id: string): Promise<void> => {
      await this.send('DELETE', `/webhooks/${encodeURIComponent(id)}`);
    },
    rotateSecret: (id: string, overlapSeconds?: number) =>
      this.json<WebhookEndpointCreated>('POST', `/webhooks/${encodeURIComponent(id)}/rotate-secret`, {
        body: overlapSeconds === undefined ? {} : { overlapSeconds },
      }),
    /** Every delivery of an endpoint, newest first, page after page. */
    deliveries: (id: string): AsyncGenerator<WebhookDelivery> =>
      this.pages<WebhookDeliveryList['items'][number]>(`/webhooks/${encodeURIComponent(id)}/deliveries`, {}),
    redeliver: (id: string, deliveryId: string) =>
      this.json<WebhookDelivery>(
        'POST',
        `/webhooks/${encodeURIComponent(id)}/deliveries/${encodeURIComponent(deliveryId)}/redeliver`,
      ),
  };

  /**
   * The messages of an event stream, reconnecting after a dropped connection (with `Last-Event-ID`
   * when `how.resume`) up to `maxReconnects` times, until `how.last` says a message is the last.
   */
  private async *follow<E>(route: string, options: WatchOptions, how: Follow): AsyncGenerator<E> {
    let lastEventId = options.lastEventId;
    let reconnects = 0;
    const maxReconnects = options.maxReconnects ?? 10;
    for (;;) {
      let response: Response;
      try {
        response = await this.send('GET', route, {
          headers: {
            accept: 'text/event-stream',
            ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }),
          },
          timeoutMs: null,
          signal: options.signal,
        });
      } catch (error) {
        if (!(error instanceof SwitchyardConnectionError) || ++reconnects > maxReconnects) throw error;
        await sleep(RECONNECT_DELAY_MS, options.signal);
        continue;
      }
      try {
        for await (const message of parseEventStream(response.body as ReadableStream<Uint8Array>)) {
          if (how.resume && message.id !== undefined) lastEventId = message.id;
          const data = JSON.parse(message.data) as unknown;
          yield { event: message.event, id: message.id, data } as E;
          if (how.last(message.event, data)) return;
        }
      } catch (error) {
        if (options.signal?.aborted) throw error;
        if (++reconnects > maxReconnects)
          throw new SwitchyardConnectionError(this.apiBase, 'event stream dropped', { cause: error });
        await sleep(RECONNECT_DELAY_MS, options.signal);
        continue;
      }
      const final = await how.ended?.();
      if (final !== undefined) {
        yield { event: final.event, id: undefined, data: final.data } as E;
        return;
      }
      // The server ended the stream before the last event (a gateway shutting down): resume.
      if (++reconnects > maxReconnects)
        throw new SwitchyardConnectionError(this.apiBase, 'event stream ended early');
      await sleep(RECONNECT_DELAY_MS, options.signal);
    }
  }

  readonly flows = {
    /** Submits a flow (202 new, 200 the flow this Idempotency-Key already created). */
    submit: (flow: FlowRequest, options: { idempotencyKey?: string; signal?: AbortSignal } = {}) =>
      this.json<SubmittedFlow>('POST', '/flows', {
        body: flow,
        headers: options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {},
        signal: options.signal,
      }),
    get: (id: string, options: { signal?: AbortSignal } = {}) =>
      this.json<Flow>('GET', flowPath(id), { signal: options.signal }),
    /** Every flow matching `query`, newest first, page after page. */
    list: (query: FlowListQuery = {}, options: { signal?: AbortSignal } = {}): AsyncGenerator<FlowSummary> =>
      this.pages<FlowList['items'][number]>('/flows', query, options.signal),
    /** Cancels every unfinished job of the flow (`DELETE /flows/{id}`). */
    cancel: (id: string) => this.json<FlowActionResult>('DELETE', flowPath(id)),
    /** Runs the failed and cancelled jobs again, with everything downstream of them. */
    retry: (id: string) => this.json<FlowActionResult>('POST', flowPath(id, '/retry')),
    /** A read-only token for one flow, to hand to a browser (`flows.get` and `flows.watch` of it). */
    createToken: (id: string, ttlSeconds?: number) =>
      this.json<FlowToken>('POST', flowPath(id, '/tokens'), {
        body: ttlSeconds === undefined ? {} : { ttlSeconds },
      }),
    /**
     * The flow's events: a `snapshot` (the Flow) on each connection, then every event of every job
     * of the flow, until the flow is no longer running; the last event is then a snapshot of the
     * finished flow. The flow stream has no `Last-Event-ID` resume: after a dropped connection the
     * new connection's snapshot holds the state the missed job events led to.
     */
    watch: (id: string, options: Omit<WatchOptions, 'lastEventId'> = {}): AsyncGenerator<FlowWatchEvent> =>
      this.follow<FlowWatchEvent>(flowPath(id, '/events'), options, {
        resume: false,
        last: (event, data) => event === 'snapshot' && (data as Flow).status !== 'running',
        // The gateway closes the stream once the flow has finished: read how it ended.
        ended: async () => {
          const flow = await this.json<Flow>('GET', flowPath(id), { signal: options.signal });
          return flow.status === 'running' ? undefined : { event: 'snapshot', data: flow };
        },
      }),
  };

  readonly schedules = {
    create: (body: ScheduleRequest) => this.json<Schedule>('POST', '/schedules', { body }),
    /** Every schedule, newest first, page after page. */
    list: (query: PageQuery = {}): AsyncGenerator<Schedule> =>
      this.pages<ScheduleList['items'][number]>('/schedules', query),
    get: (id: string) => this.json<Schedule>('GET', schedulePath(id)),
    update: (id: string, patch: SchedulePatch) =>
      this.json<Schedule>('PATCH', schedulePath(id), { body: patch }),
    delete: async (id: string): Promise<void> => {
      await this.send('DELETE', schedulePath(id));
    },
    pause: (id: string, note?: string) =>
      this.json<Schedule>('POST', schedulePath(id, '/pause'), { body: note === undefined ? {} : { note } }),
    resume: (id: string, note?: string) =>
      this.json<Schedule>('POST', schedulePath(id, '/resume'), { body: note === undefined ? {} : { note } }),
    /** One run now, as the overlap policy allows. */
    trigger: (id: string) => this.json<ScheduleTriggerResult>('POST', schedulePath(id, '/trigger')),
    /** A run for every tick in [from, to] that has none yet. */
    backfill: (id: string, range: ScheduleBackfill) =>
      this.json<ScheduleBackfillResult>('POST', schedulePath(id, '/backfill'), { body: range }),
    /** The jobs the schedule created, newest tick first, page after page. */
    runs: (id: string, query: PageQuery = {}): AsyncGenerator<JobSummary> =>
      this.pages<JobSummary>(schedulePath(id, '/runs'), query),
  };

  /** Every item of a cursor-paged route, following `nextCursor`. */
  private async *pages<T>(route: string, query: Query, signal?: AbortSignal): AsyncGenerator<T> {
    let cursor: string | undefined;
    do {
      const page = await this.json<{ items: T[]; nextCursor: string | null }>('GET', route, {
        query: { ...query, cursor },
        signal,
      });
      yield* page.items;
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
  }

  /** A JSON call: the parsed body (undefined for 204). Errors are thrown as SwitchyardError. */
  async json<T>(
    method: string,
    route: string,
    options: RequestOptions & { rawBody?: RequestBody } = {},
  ): Promise<T> {
    const response = await this.send(method, route, {
      ...options,
      headers: { accept: 'application/json', ...options.headers },
    });
    const text = await response.text();
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  /**
   * One call; the response when it is 2xx (the caller reads the body), SwitchyardError otherwise.
   * 429 and 503 are retried up to `maxRetries` times after their Retry-After (a submission they
   * refused created nothing).
   */
  async send(
    method: string,
    route: string,
    options: RequestOptions & { rawBody?: RequestBody } = {},
  ): Promise<Response> {
    const url = this.url(route, options.query);
    const headers: Record<string, string> = { ...options.headers };
    if (this.options.apiKey !== undefined) headers['authorization'] = `Bearer ${this.options.apiKey}`;
    let body: RequestBody | undefined = options.rawBody;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    const maxRetries = options.retry === false ? 0 : (this.options.maxRetries ?? 3);
    for (let attempt = 0; ; attempt++) {
      const timeoutMs =
        options.timeoutMs === undefined ? (this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS) : options.timeoutMs;
      const signals = [
        options.signal,
        timeoutMs === null ? undefined : AbortSignal.timeout(timeoutMs),
      ].filter((s): s is AbortSignal => s !== undefined);
      let response: Response;
      try {
        response = await this.fetchImpl(url, { method, headers, body, signal: AbortSignal.any(signals) });
      } catch (error) {
        if (options.signal?.aborted) throw error;
        throw new SwitchyardConnectionError(this.options.baseUrl, reason(error), { cause: error });
      }
      if (response.ok) return response;
      const error = await errorFromResponse(response);
      const retryable = (response.status === 429 || response.status === 503) && attempt < maxRetries;
      const replayable = typeof body === 'string' || body === undefined;
      if (!retryable || !replayable) throw error;
      await sleep(Math.min(RETRY_AFTER_MAX_MS, error.retryAfterMs ?? 500 * 2 ** attempt), options.signal);
    }
  }

  /** The full URL of an API route, with the query (and `token` when the client holds one). */
  url(route: string, query: Query = {}): string {
    const u = new URL(`${this.apiBase}${route}`);
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined) u.searchParams.set(key, String(value));
    }
    if (this.options.token !== undefined) u.searchParams.set('token', this.options.token);
    return u.toString();
  }
}

/** A short reason for a failed fetch (Node puts the socket error in `cause`). */
function reason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return cause.code;
  if ((error as { name?: string }).name === 'TimeoutError') return 'timed out';
  return cause?.message ?? (error as Error).message ?? String(error);
}
