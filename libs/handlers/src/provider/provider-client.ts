import { setTimeout as sleep } from 'node:timers/promises';
import {
  CircuitOpenError,
  createCircuitBreaker,
  isNetworkError,
  isRetryableStatus,
  parseRetryAfter,
  type CircuitBreakerHandle,
  type CircuitState,
} from '@switchyard/resilience';
import { DeferredError, PermanentError, RateLimitedError, RetryableError } from '@switchyard/handler-sdk';
import type { ProviderConfig, ProviderOperation, ProviderPoll } from './providers-file';

/** What a provider produced: bytes with their content type (JSON results are serialised). */
export interface ProviderResult {
  bytes: Buffer;
  contentType: string;
  /** The provider's own job id, for providers that are polled. */
  providerJobId?: string;
  /**
   * What the run used: `requests` (HTTP requests made), `tokens_in`/`tokens_out` from an
   * OpenAI-style `usage` object in a JSON answer, and `cost_usd` from the provider's `pricing`.
   */
  usage: Record<string, number>;
}

/** An OpenAI-style `usage` object (chat and responses APIs) as ledger units. */
const USAGE_FIELDS: Record<string, string> = {
  prompt_tokens: 'tokens_in',
  input_tokens: 'tokens_in',
  completion_tokens: 'tokens_out',
  output_tokens: 'tokens_out',
};

/** The units an answer's `usage` object reports, added to `into`. */
export function addReportedUsage(answer: unknown, into: Record<string, number>): void {
  if (answer === null || typeof answer !== 'object') return;
  const usage = (answer as { usage?: unknown }).usage;
  if (usage === null || typeof usage !== 'object') return;
  for (const [field, unit] of Object.entries(USAGE_FIELDS)) {
    const value = (usage as Record<string, unknown>)[field];
    if (typeof value === 'number' && Number.isFinite(value) && value >= 0)
      into[unit] = (into[unit] ?? 0) + value;
  }
}

interface HttpAnswer {
  status: number;
  contentType: string;
  bytes: Buffer;
}

/** Redirects followed for one request before it is refused (fetch's own limit is 20). */
const MAX_REDIRECTS = 5;

/** Waits between this and twice this while a half-open probe is in flight. */
const HALF_OPEN_RETRY_MS = 1000;

/**
 * One external provider: every HTTP request to it goes through its own circuit breaker, is
 * bounded by its `timeoutMs` and the job's signal, and is classified as SPEC §6 says: timeouts,
 * network errors, 408/429/5xx are RetryableError (honouring Retry-After), other 4xx are
 * PermanentError, and an open circuit is a DeferredError that waits until the half-open probe
 * without spending an attempt.
 */
export class ProviderClient {
  readonly breaker: CircuitBreakerHandle;

  constructor(
    readonly name: string,
    private readonly config: ProviderConfig,
    private readonly secret: string | undefined,
    onStateChange: (state: CircuitState) => void = () => undefined,
  ) {
    this.breaker = createCircuitBreaker(name, config.breaker, {
      // A request the provider refused, one the job itself abandoned, or one over the provider's
      // rate limit (the rate key's hold deals with it) says nothing about the provider's health.
      isFailure: (error) =>
        !(error instanceof PermanentError) &&
        !(error instanceof CallerAbort) &&
        !(error instanceof RateLimitedError),
      onStateChange,
    });
  }

  operation(name: string): ProviderOperation | undefined {
    return Object.hasOwn(this.config.operations, name) ? this.config.operations[name] : undefined;
  }

  /** Runs one operation to its result, polling the provider's job when the operation says so. */
  async run(
    operationName: string,
    input: Record<string, unknown>,
    signal: AbortSignal,
    progress: (percent: number, step: string, message?: string) => void = () => undefined,
  ): Promise<ProviderResult> {
    const operation = this.operation(operationName);
    if (!operation) {
      throw new PermanentError(
        `provider "${this.name}" has no operation "${operationName}"`,
        'invalid_payload',
      );
    }
    progress(5, 'calling_provider');
    const usage: Record<string, number> = {};
    const first = await this.request(operation.method, operation.path, input, signal, usage);
    const result = operation.poll
      ? await this.poll(operation.poll, first, signal, progress, usage)
      : { bytes: first.bytes, contentType: first.contentType };
    return { ...result, usage: this.priced(usage) };
  }

  /** `cost_usd` added from the provider's prices, when it has any for the units used. */
  private priced(usage: Record<string, number>): Record<string, number> {
    const pricing = this.config.pricing;
    if (!pricing) return usage;
    let cost = 0;
    for (const [unit, price] of Object.entries(pricing)) cost += (usage[unit] ?? 0) * price;
    return cost > 0 ? { ...usage, cost_usd: (usage['cost_usd'] ?? 0) + cost } : usage;
  }

  private async poll(
    poll: ProviderPoll,
    first: HttpAnswer,
    signal: AbortSignal,
    progress: (percent: number, step: string, message?: string) => void,
    usage: Record<string, number>,
  ): Promise<Omit<ProviderResult, 'usage'>> {
    let status = this.json(first);
    const id = pick(status, poll.idField);
    if (typeof id !== 'string' && typeof id !== 'number') {
      throw new PermanentError(
        `provider "${this.name}" answered without a job id at "${poll.idField}"`,
        'provider_protocol_error',
      );
    }
    const providerJobId = String(id);
    const path = poll.statusPath.replace('{id}', encodeURIComponent(providerJobId));
    for (let polls = 1; ; polls++) {
      const failed = poll.errorField === undefined ? undefined : pick(status, poll.errorField);
      if (failed) {
        throw new PermanentError(
          `provider "${this.name}" job ${providerJobId} failed: ${describe(failed)}`,
          'provider_job_failed',
        );
      }
      const done = pick(status, poll.doneField);
      if (poll.doneValue === undefined ? Boolean(done) : done === poll.doneValue) {
        const result = pick(status, poll.resultField);
        return {
          bytes: Buffer.from(JSON.stringify(result ?? null)),
          contentType: 'application/json',
          providerJobId,
        };
      }
      // Asymptotic progress: the provider does not say how far it is.
      progress(10 + 80 * (1 - 1 / (1 + polls / 10)), 'waiting_for_provider', `poll ${polls}`);
      await sleep(poll.intervalMs, undefined, { signal });
      status = this.json(await this.request('GET', path, undefined, signal, usage));
    }
  }

  /** One HTTP request through the breaker. */
  private async request(
    method: string,
    path: string,
    input: Record<string, unknown> | undefined,
    signal: AbortSignal,
    usage: Record<string, number>,
  ): Promise<HttpAnswer> {
    try {
      usage['requests'] = (usage['requests'] ?? 0) + 1;
      const answer = await this.breaker.fire(() => this.send(method, path, input, signal));
      if (/^application\/(.+\+)?json/i.test(answer.contentType))
        addReportedUsage(parseOrNull(answer.bytes), usage);
      return answer;
    } catch (error) {
      if (error instanceof CallerAbort) throw signal.reason;
      if (error instanceof CircuitOpenError) {
        const wait = error.retryAfterMs > 0 ? error.retryAfterMs : HALF_OPEN_RETRY_MS;
        // A little spread so the jobs that waited do not all arrive at the probe at once.
        throw new DeferredError(
          `provider "${this.name}" is unavailable (circuit open)`,
          wait + Math.floor(Math.random() * HALF_OPEN_RETRY_MS),
        );
      }
      throw error;
    }
  }

  private async send(
    method: string,
    path: string,
    input: Record<string, unknown> | undefined,
    signal: AbortSignal,
  ): Promise<HttpAnswer> {
    const url = new URL(this.config.baseUrl.replace(/\/+$/, '') + path);
    const headers: Record<string, string> = { accept: '*/*' };
    let body: string | undefined;
    if (method === 'GET') {
      for (const [key, value] of Object.entries(input ?? {})) {
        url.searchParams.set(key, typeof value === 'string' ? value : JSON.stringify(value));
      }
    } else {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(input ?? {});
    }
    const auth = this.config.auth;
    if (auth && this.secret !== undefined) {
      headers[auth.header.toLowerCase()] = auth.scheme ? `${auth.scheme} ${this.secret}` : this.secret;
    }
    const timeout = AbortSignal.timeout(this.config.timeoutMs);
    const combined = AbortSignal.any([signal, timeout]);
    try {
      const response = await this.fetchFollowing(url, method, headers, body, combined);
      const bytes = await this.readBody(response, combined);
      const contentType = response.headers.get('content-type') ?? 'application/octet-stream';
      if (response.ok) return { status: response.status, contentType, bytes };
      const snippet = bytes.subarray(0, 300).toString('utf8');
      const limitedFor = rateLimitedFor(response.status, response.headers);
      if (limitedFor !== undefined) {
        throw new RateLimitedError(
          `provider "${this.name}" is rate limited (${response.status}) for ${limitedFor} ms: ${snippet}`,
          limitedFor,
        );
      }
      if (isRetryableStatus(response.status)) {
        throw new RetryableError(
          `provider "${this.name}" answered ${response.status}: ${snippet}`,
          'provider_error',
          parseRetryAfter(response.headers.get('retry-after')),
        );
      }
      throw new PermanentError(
        `provider "${this.name}" rejected the request with ${response.status}: ${snippet}`,
        'provider_rejected',
      );
    } catch (error) {
      if (
        error instanceof RetryableError ||
        error instanceof PermanentError ||
        error instanceof RateLimitedError
      )
        throw error;
      if (signal.aborted) throw new CallerAbort();
      if (timeout.aborted) {
        throw new RetryableError(
          `provider "${this.name}" did not answer within ${this.config.timeoutMs} ms`,
          'provider_timeout',
        );
      }
      const reason = error instanceof Error ? error.message : String(error);
      throw new RetryableError(
        `provider "${this.name}" could not be reached: ${reason}`,
        isNetworkError(error) ? 'provider_unreachable' : 'provider_error',
      );
    }
  }

  /**
   * fetch with redirects followed here rather than by fetch: fetch keeps custom headers (the
   * provider's `auth.header`, e.g. X-API-Key) on a redirect to another origin, and only drops
   * Authorization. The secret goes to the configured provider's origin only: on a redirect that
   * leaves it, the credential header and Authorization are removed for good. 303 (and 301/302
   * after a POST) continue as a GET without a body, as browsers and fetch do.
   */
  private async fetchFollowing(
    url: URL,
    method: string,
    headers: Record<string, string>,
    body: string | undefined,
    signal: AbortSignal,
  ): Promise<Response> {
    const credentialHeaders = new Set(['authorization', 'cookie', 'proxy-authorization']);
    if (this.config.auth) credentialHeaders.add(this.config.auth.header.toLowerCase());
    let current = url;
    let currentMethod = method;
    let currentBody = body;
    const currentHeaders = { ...headers };
    for (let hops = 0; ; hops++) {
      const response = await fetch(current, {
        method: currentMethod,
        headers: currentHeaders,
        body: currentBody,
        signal,
        redirect: 'manual',
      });
      const location = response.headers.get('location');
      if (![301, 302, 303, 307, 308].includes(response.status) || location === null) return response;
      await response.body?.cancel();
      if (hops >= MAX_REDIRECTS) {
        throw new PermanentError(
          `provider "${this.name}" redirected more than ${MAX_REDIRECTS} times`,
          'provider_protocol_error',
        );
      }
      const next = new URL(location, current);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new PermanentError(
          `provider "${this.name}" redirected to an unsupported URL scheme ${next.protocol}`,
          'provider_protocol_error',
        );
      }
      if (next.origin !== url.origin) {
        for (const name of credentialHeaders) delete currentHeaders[name];
      }
      if (
        response.status === 303 ||
        ((response.status === 301 || response.status === 302) && currentMethod === 'POST')
      ) {
        if (currentMethod !== 'HEAD') currentMethod = 'GET';
        currentBody = undefined;
        delete currentHeaders['content-type'];
      }
      current = next;
    }
  }

  /** The body, refusing past `maxResponseBytes` instead of holding an unbounded answer in memory. */
  private async readBody(response: Response, signal: AbortSignal): Promise<Buffer> {
    const limit = this.config.maxResponseBytes;
    const declared = Number(response.headers.get('content-length') ?? NaN);
    const tooLarge = () =>
      new PermanentError(
        `provider "${this.name}" answered more than ${limit} bytes`,
        'provider_response_too_large',
      );
    if (declared > limit) {
      await response.body?.cancel();
      throw tooLarge();
    }
    const chunks: Buffer[] = [];
    let size = 0;
    if (!response.body) return Buffer.alloc(0);
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      signal.throwIfAborted();
      size += chunk.byteLength;
      if (size > limit) throw tooLarge();
      chunks.push(Buffer.from(chunk));
    }
    return Buffer.concat(chunks);
  }

  private json(answer: HttpAnswer): unknown {
    try {
      return JSON.parse(answer.bytes.toString('utf8'));
    } catch {
      throw new PermanentError(
        `provider "${this.name}" answered with invalid JSON`,
        'provider_protocol_error',
      );
    }
  }
}

/** The job's own signal fired during a request: not the provider's failure. */
class CallerAbort extends Error {}

function parseOrNull(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return null;
  }
}

/** The value at a dot path (`output.url`) of parsed JSON. */
function pick(value: unknown, path: string): unknown {
  let current = value;
  for (const key of path.split('.')) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function describe(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/** The longest rate-limit hold a provider's answer can set (a garbled reset must not hold a key for days). */
export const MAX_RATE_LIMIT_HOLD_MS = 15 * 60_000;

/**
 * `x-ratelimit-reset` as milliseconds from `now`: epoch seconds (above 10^9), seconds to wait, or a
 * duration such as `1s`, `250ms` or `6m0s` (as some providers spell their reset headers).
 */
export function parseRateLimitReset(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) {
    const n = Number(trimmed);
    return n > 1e9 ? Math.max(0, Math.round(n * 1000 - now)) : Math.round(n * 1000);
  }
  const parts = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$/.exec(trimmed);
  if (!parts || trimmed === '') return undefined;
  const [, h = '0', m = '0', sec = '0', ms = '0'] = parts;
  return Math.round(Number(h) * 3_600_000 + Number(m) * 60_000 + Number(sec) * 1000 + Number(ms));
}

/**
 * How long a refused answer says the provider's rate limit lasts: for a 429, or any refusal with
 * `x-ratelimit-remaining: 0`, the `Retry-After` (seconds or an HTTP date) or else the
 * `x-ratelimit-reset`, at most MAX_RATE_LIMIT_HOLD_MS; undefined when it is not a rate-limit
 * answer or names no reset (then it is classified as any other status).
 */
export function rateLimitedFor(
  status: number,
  headers: { get(name: string): string | null },
  now = Date.now(),
): number | undefined {
  const exhausted = headers.get('x-ratelimit-remaining')?.trim() === '0';
  if (status !== 429 && !exhausted) return undefined;
  const wait =
    parseRetryAfter(headers.get('retry-after'), now) ??
    parseRateLimitReset(headers.get('x-ratelimit-reset'), now);
  return wait === undefined ? undefined : Math.min(wait, MAX_RATE_LIMIT_HOLD_MS);
}
