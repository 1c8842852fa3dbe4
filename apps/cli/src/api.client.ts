import type { ApiErrorBody, ApiErrorDetail } from '@switchyard/contracts';
import { CliError, EXIT, networkErrorReason } from './cli.errors';

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
  /** Streams (SSE, results) must not time out while they are being read. */
  timeoutMs?: number | null;
  signal?: AbortSignal;
}

export interface ApiResponse<T> {
  status: number;
  body: T;
  headers: Headers;
}

/** The API answered with an error; carries the SPEC §4 error body. */
export class ApiRequestError extends CliError {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: readonly ApiErrorDetail[],
    readonly correlationId: string | undefined,
    readonly retryAfter: string | undefined,
    readonly body: unknown,
    hints: readonly string[] = [],
  ) {
    super(message, EXIT.error, hints);
  }
}

/** Nothing answered at all: refused, DNS, timeout. */
export class ConnectionError extends CliError {
  readonly code = 'connection_failed';
  constructor(
    readonly url: string,
    reason: string,
  ) {
    super(`cannot reach the Switchyard API at ${url}: ${reason}`, EXIT.unreachable, [
      'is the gateway running? `npm start` starts every service; `switchyard doctor` shows what is missing',
      'point the CLI elsewhere with --url, SWITCHYARD_URL or "url" in the config file',
    ]);
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;

export class ApiClient {
  readonly apiBase: string;

  constructor(
    readonly origin: string,
    private readonly apiKey: string | undefined,
  ) {
    this.apiBase = `${origin}/api/v1`;
  }

  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const response = await this.send(method, path, {
      ...options,
      headers: { accept: 'application/json', ...options.headers },
    });
    const text = await response.text();
    // The body's shape is the API's contract (SPEC §3/§4); the CLI trusts it like any typed client.
    const body = (text === '' ? undefined : parseJson(text)) as T;
    return { status: response.status, body, headers: response.headers };
  }

  /** A response whose body the caller reads itself (SSE, artifact bytes); errors are already thrown. */
  async send(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const url = this.url(path, options.query);
    const headers: Record<string, string> = { ...options.headers };
    if (this.apiKey !== undefined) headers.authorization = `Bearer ${this.apiKey}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    const timeoutMs = options.timeoutMs === undefined ? DEFAULT_TIMEOUT_MS : options.timeoutMs;
    const signals = [options.signal, timeoutMs === null ? undefined : AbortSignal.timeout(timeoutMs)].filter(
      (s): s is AbortSignal => s !== undefined,
    );
    let response: Response;
    try {
      response = await fetch(url, { method, headers, body, signal: AbortSignal.any(signals) });
    } catch (error) {
      if (options.signal?.aborted === true) throw error;
      throw new ConnectionError(this.origin, networkErrorReason(error));
    }
    if (!response.ok) throw await this.toError(response);
    return response;
  }

  url(path: string, query: Query = {}): string {
    const u = new URL(`${this.apiBase}${path}`);
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined) u.searchParams.set(key, String(value));
    }
    return u.toString();
  }

  private async toError(response: Response): Promise<ApiRequestError> {
    const text = await response.text().catch(() => '');
    const parsed = parseJson(text);
    const retryAfter = response.headers.get('retry-after') ?? undefined;
    const hints: string[] = [];
    if (response.status === 401 && this.apiKey === undefined) {
      hints.push(
        'no API key is configured: pass --api-key, set SWITCHYARD_API_KEY or "apiKey" in the config file',
      );
    }
    if (retryAfter !== undefined) hints.push(`the API asks to retry after ${retryAfter} s`);
    if (isApiErrorBody(parsed)) {
      const e = parsed.error;
      return new ApiRequestError(
        response.status,
        e.code,
        e.message,
        Array.isArray(e.details) ? e.details : [],
        e.correlationId ?? response.headers.get('x-correlation-id') ?? undefined,
        retryAfter,
        parsed,
        hints,
      );
    }
    // Not the SPEC shape (a proxy, an old gateway): still say what came back.
    const snippet = text.trim().slice(0, 200);
    return new ApiRequestError(
      response.status,
      `http_${response.status}`,
      snippet === '' ? response.statusText || 'no body' : snippet,
      [],
      response.headers.get('x-correlation-id') ?? undefined,
      retryAfter,
      parsed ?? text,
      hints,
    );
  }
}

export function isApiErrorBody(value: unknown): value is ApiErrorBody {
  if (typeof value !== 'object' || value === null || !('error' in value)) return false;
  const e = value.error;
  return (
    typeof e === 'object' &&
    e !== null &&
    'code' in e &&
    typeof e.code === 'string' &&
    'message' in e &&
    typeof e.message === 'string'
  );
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
