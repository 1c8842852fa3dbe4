import { DEV_ADMIN_API_KEY } from '@switchyard/config';
import { waitFor } from './isolation';

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

/**
 * A tiny JSON client for the gateway's REST API, for end-to-end tests. Without an
 * `authorization` or `x-api-key` header it authenticates with the dev admin key, which test
 * stacks use unless they set ADMIN_API_KEY (TestStack.api() passes the stack's key).
 */
export class TestApi {
  private readonly headers: Record<string, string>;

  constructor(
    readonly baseUrl: string,
    headers: Record<string, string> = {},
  ) {
    const named = Object.keys(headers).map((h) => h.toLowerCase());
    this.headers =
      named.includes('authorization') || named.includes('x-api-key')
        ? headers
        : { authorization: `Bearer ${DEV_ADMIN_API_KEY}`, ...headers };
  }

  async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse<T>> {
    const response = await fetch(`${this.baseUrl}/api/v1${path}`, {
      method,
      headers: {
        ...this.headers,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, headers: response.headers, body: parsed as T };
  }

  post<T = Record<string, unknown>>(path: string, body?: unknown, headers?: Record<string, string>) {
    return this.request<T>('POST', path, body ?? {}, headers);
  }

  get<T = Record<string, unknown>>(path: string) {
    return this.request<T>('GET', path);
  }

  delete<T = Record<string, unknown>>(path: string) {
    return this.request<T>('DELETE', path);
  }

  /**
   * Submits a new job and returns its id; fails the test unless the gateway answered 202. Sends
   * `dedupe: false` unless the body says otherwise: tests submit identical jobs within the dedup
   * window on purpose.
   */
  async submit(body: Record<string, unknown>): Promise<string> {
    const response = await this.post<{ id: string }>('/jobs', { dedupe: false, ...body });
    if (response.status !== 202)
      throw new Error(`submit answered ${response.status}: ${JSON.stringify(response.body)}`);
    return response.body.id;
  }

  async job<T = TestJob>(id: string): Promise<T> {
    const response = await this.get<T>(`/jobs/${id}`);
    if (response.status !== 200) throw new Error(`GET /jobs/${id} answered ${response.status}`);
    return response.body;
  }

  /** Polls a job until `done(job)` holds. */
  waitForJob(id: string, done: (job: TestJob) => boolean, timeoutMs = 20000): Promise<TestJob> {
    return waitFor(
      async () => {
        const job = await this.job(id);
        return done(job) ? job : undefined;
      },
      { timeoutMs, intervalMs: 50, what: `job ${id}` },
    );
  }

  waitForStatus(id: string, status: string | string[], timeoutMs = 20000): Promise<TestJob> {
    const wanted = Array.isArray(status) ? status : [status];
    return this.waitForJob(id, (job) => wanted.includes(job.status), timeoutMs);
  }
}

export interface TestJob {
  id: string;
  status: string;
  priority: number;
  attempts: number;
  maxAttempts: number;
  progress: number;
  step: string | null;
  correlationId: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  nextAttemptAt: string | null;
  /** When a `scheduled` job becomes `queued`; null for a job submitted without `runAt`/`delayMs`. */
  runAt?: string | null;
  cancelRequested: boolean;
  deadLettered: boolean;
  result: unknown;
  error: { code: string; message: string; retryable: boolean } | null;
  metadata: Record<string, unknown>;
  history: { seq: number; event: string; status: string; attempt: number; progress: number; at: string }[];
}
