import { Agent, request } from 'node:http';

export interface HttpResponse<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
}

/**
 * A small keep-alive JSON client on node:http: cheaper per request than fetch, so the load
 * generator takes as little as possible of the CPU the services need on a 2-core machine.
 */
export class BenchHttp {
  private readonly agent: Agent;
  private readonly host: string;
  private readonly port: number;
  private keys: string[];
  private nextKey = 0;

  constructor(
    baseUrl: string,
    /** The bootstrap admin key (ADMIN_API_KEY), for admin requests. */
    readonly adminKey: string,
    maxSockets = 64,
  ) {
    this.keys = [adminKey];
    const url = new URL(baseUrl);
    this.host = url.hostname;
    this.port = Number(url.port);
    this.agent = new Agent({ keepAlive: true, maxSockets, keepAliveMsecs: 10000 });
  }

  /**
   * Sends every later request with the next of these keys in turn (each a client of its own
   * tenant), so that per-key rate limits and per-tenant quotas keep their defaults.
   */
  useKeys(keys: string[]): void {
    if (keys.length) this.keys = keys;
  }

  request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    apiKey?: string,
  ): Promise<HttpResponse<T>> {
    const key = apiKey ?? this.keys[this.nextKey++ % this.keys.length];
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.host,
          port: this.port,
          method,
          path: `/api/v1${path}`,
          agent: this.agent,
          headers: {
            authorization: `Bearer ${key}`,
            accept: 'application/json',
            ...(payload
              ? { 'content-type': 'application/json', 'content-length': String(payload.length) }
              : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              // not JSON: keep the text
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed as T });
          });
        },
      );
      req.on('error', reject);
      if (payload) req.write(payload);
      req.end();
    });
  }

  post<T = unknown>(path: string, body: unknown): Promise<HttpResponse<T>> {
    return this.request<T>('POST', path, body);
  }

  get<T = unknown>(path: string): Promise<HttpResponse<T>> {
    return this.request<T>('GET', path);
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Seconds to wait from a 429/503 answer's Retry-After (at least 50 ms). */
export function retryAfterMs(response: HttpResponse): number {
  const raw = response.headers['retry-after'];
  const seconds = Number(Array.isArray(raw) ? raw[0] : raw);
  return Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds * 1000, 5000) : 50;
}
