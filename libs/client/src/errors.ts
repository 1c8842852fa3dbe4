/** One entry of an error's `details` (a field, and for batches the item's index). */
export interface ErrorDetail {
  field?: string;
  message?: string;
  index?: number;
}

/** The API answered with an error (SPEC error shape); `code` is the stable error code. */
export class SwitchyardError extends Error {
  override readonly name = 'SwitchyardError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: readonly ErrorDetail[] = [],
    readonly correlationId?: string,
    /** Retry-After of a 429 or 503, in ms. */
    readonly retryAfterMs?: number,
    /** The body as received (the error shape, or whatever a proxy sent). */
    readonly body?: unknown,
  ) {
    super(message);
  }
}

/** Nothing answered: connection refused, DNS, timeout, or the connection dropped. */
export class SwitchyardConnectionError extends Error {
  override readonly name = 'SwitchyardConnectionError';
  readonly code = 'connection_failed';
  constructor(
    readonly url: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot reach the Switchyard API at ${url}: ${reason}`, options);
  }
}

/** A webhook whose signature, timestamp or headers do not check out. */
export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';
}

function isErrorBody(value: unknown): value is {
  error: { code: string; message: string; details?: ErrorDetail[]; correlationId?: string };
} {
  if (typeof value !== 'object' || value === null || !('error' in value)) return false;
  const e = value.error;
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as { code?: unknown }).code === 'string' &&
    typeof (e as { message?: unknown }).message === 'string'
  );
}

/** Retry-After (seconds or an HTTP date) in ms; undefined when absent. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const ms = /^\s*\d+\s*$/.test(value) ? Number(value) * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) ? Math.max(0, ms) : undefined;
}

/** The SwitchyardError of a non-2xx response (reads its body). */
export async function errorFromResponse(response: Response): Promise<SwitchyardError> {
  const text = await response.text().catch(() => '');
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    parsed = undefined;
  }
  const retryAfter = retryAfterMs(response.headers.get('retry-after'));
  const correlation = response.headers.get('x-correlation-id') ?? undefined;
  if (isErrorBody(parsed)) {
    const e = parsed.error;
    return new SwitchyardError(
      response.status,
      e.code,
      e.message,
      Array.isArray(e.details) ? e.details : [],
      e.correlationId ?? correlation,
      retryAfter,
      parsed,
    );
  }
  const snippet = text.trim().slice(0, 200);
  return new SwitchyardError(
    response.status,
    `http_${response.status}`,
    snippet === '' ? response.statusText || 'no body' : snippet,
    [],
    correlation,
    retryAfter,
    parsed ?? text,
  );
}
