import {
  Switchyard,
  SwitchyardConnectionError,
  SwitchyardError,
  type Query,
  type RequestOptions,
} from '@switchyard/client';
import type { ApiErrorDetail } from '@switchyard/contracts';
import { CliError, EXIT, networkErrorReason } from './cli.errors';

export type { Query, RequestOptions } from '@switchyard/client';

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

/**
 * The CLI's view of the API, on @switchyard/client: the SDK sends every request (auth, query,
 * JSON, timeouts, error parsing); this adapter turns its errors into the CLI's (exit codes, hints).
 */
export class ApiClient {
  readonly apiBase: string;
  private readonly sdk: Switchyard;

  constructor(
    readonly origin: string,
    private readonly apiKey: string | undefined,
  ) {
    // The CLI reports a 429/503 at once (with its Retry-After hint) rather than waiting.
    this.sdk = new Switchyard({ baseUrl: origin, apiKey, maxRetries: 0, timeoutMs: DEFAULT_TIMEOUT_MS });
    this.apiBase = this.sdk.apiBase;
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
    try {
      return await this.sdk.send(method, path, options);
    } catch (error) {
      if (error instanceof SwitchyardConnectionError) {
        throw new ConnectionError(this.origin, networkErrorReason(error.cause ?? error));
      }
      if (error instanceof SwitchyardError) throw this.toError(error);
      throw error;
    }
  }

  url(path: string, query: Query = {}): string {
    return this.sdk.url(path, query);
  }

  private toError(error: SwitchyardError): ApiRequestError {
    const retryAfter =
      error.retryAfterMs === undefined ? undefined : String(Math.ceil(error.retryAfterMs / 1000));
    const hints: string[] = [];
    if (error.status === 401 && this.apiKey === undefined) {
      hints.push(
        'no API key is configured: pass --api-key, set SWITCHYARD_API_KEY or "apiKey" in the config file',
      );
    }
    if (retryAfter !== undefined) hints.push(`the API asks to retry after ${retryAfter} s`);
    return new ApiRequestError(
      error.status,
      error.code,
      error.message,
      error.details as ApiErrorDetail[],
      error.correlationId,
      retryAfter,
      error.body,
      hints,
    );
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
