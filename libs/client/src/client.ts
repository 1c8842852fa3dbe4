import { errorFromResponse, SwitchyardConnectionError } from './errors';
import { parseEventStream } from './sse';
import type {
  BatchResponse,
  Job,
  JobDetail,
  JobSubmission,
  JobSummary,
  JobSummaryList,
  JobToken,
  ListQuery,
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
  /** A job token (browsers): only get, watch and result of that job. */
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
  async *watch(id: string, options: WatchOptions = {}): AsyncGenerator<WatchEvent> {
    let lastEventId = options.lastEventId;
    let reconnects = 0;
    const maxReconnects = options.maxReconnects ?? 10;
    for (;;) {
      let response: Response;
      try {
        response = await this.send('GET', path(id, '/events'), {
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
          if (message.id !== undefined) lastEventId = message.id;
          const data = JSON.parse(message.data) as WatchEvent['data'];
          yield { event: message.event, id: message.id, data } as WatchEvent;
          const status =
            message.event === 'snapshot' ? (data as { job?: { status?: string } }).job?.status : undefined;
          if (
            message.event === 'snapshot' ? TERMINAL.has(status ?? '') : TERMINAL.has(message.event.slice(4))
          )
            return;
        }
      } catch (error) {
        if (options.signal?.aborted) throw error;
        if (++reconnects > maxReconnects)
          throw new SwitchyardConnectionError(this.apiBase, 'event stream dropped', { cause: error });
        await sleep(RECONNECT_DELAY_MS, options.signal);
        continue;
      }
      // The server ended the stream before a terminal event (a gateway shutting down): resume.
      if (++reconnects > maxReconnects)
        throw new SwitchyardConnectionError(this.apiBase, 'event stream ended early');
      await sleep(RECONNECT_DELAY_MS, options.signal);
    }
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
