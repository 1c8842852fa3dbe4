import { connect } from 'node:net';
import { networkErrorReason } from './cli.errors';

export type TcpResult = { ok: true; ms: number } | { ok: false; error: string };

/** Can anything accept a TCP connection there? Says nothing about credentials. */
export function probeTcp(host: string, port: number, timeoutMs: number): Promise<TcpResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const finish = (result: TcpResult): void => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => finish({ ok: false, error: `no answer within ${timeoutMs} ms` }));
    socket.once('connect', () => finish({ ok: true, ms: Date.now() - started }));
    socket.once('error', (error: NodeJS.ErrnoException) =>
      finish({ ok: false, error: error.code ?? error.message }),
    );
  });
}

export interface DependencyCheck {
  status: 'up' | 'down';
  error?: string;
}

export type ReadyResult =
  | { kind: 'unreachable'; error: string }
  | { kind: 'ready'; checks: Record<string, DependencyCheck> }
  | { kind: 'not_ready'; httpStatus: number; checks: Record<string, DependencyCheck> };

/** `GET /health/ready` of a service: `{status: 'ok'|'unavailable', checks: {name: {status, error?}}}`. */
export async function probeReady(baseUrl: string, timeoutMs: number): Promise<ReadyResult> {
  let response: Response;
  try {
    response = await fetch(`${baseUrl}/health/ready`, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    return { kind: 'unreachable', error: networkErrorReason(error, timeoutMs) };
  }
  const body: unknown = await response.json().catch(() => undefined);
  const checks = checksOf(body);
  const status =
    typeof body === 'object' && body !== null ? (body as Record<string, unknown>).status : undefined;
  if (response.ok && (status === undefined || status === 'ok')) return { kind: 'ready', checks };
  return { kind: 'not_ready', httpStatus: response.status, checks };
}

function checksOf(body: unknown): Record<string, DependencyCheck> {
  const raw =
    typeof body === 'object' && body !== null ? (body as Record<string, unknown>).checks : undefined;
  if (typeof raw !== 'object' || raw === null) return {};
  const checks: Record<string, DependencyCheck> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (typeof value !== 'object' || value === null) continue;
    const v = value as Record<string, unknown>;
    checks[name] = {
      status: v.status === 'up' ? 'up' : 'down',
      ...(typeof v.error === 'string' ? { error: v.error } : {}),
    };
  }
  return checks;
}

export interface Endpoint {
  host: string;
  port: number;
}

/**
 * host:port of a connection URL, with the protocol's default port. Of a list (AMQP_URL naming a
 * cluster's nodes, separated by commas), the first node's.
 */
export function endpointOf(url: string, defaultPort: number): Endpoint | undefined {
  let u: URL;
  try {
    u = new URL(url.split(',')[0]?.trim() ?? url);
  } catch {
    return undefined;
  }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (host === '') return undefined;
  return { host, port: u.port === '' ? defaultPort : Number(u.port) };
}

/** A URL (or each URL of a comma-separated list) fit to print: credentials removed. */
export function redactUrl(url: string): string {
  if (url.includes(','))
    return url
      .split(',')
      .map((item) => redactUrl(item.trim()))
      .join(',');
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}
