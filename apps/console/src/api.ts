import { Switchyard, SwitchyardError } from '@switchyard/client';
import type { Session } from '@switchyard/contracts';

/**
 * The console's API client: the typed SDK against this origin, authenticated by the HttpOnly
 * session cookie (the browser sends it; no key is ever held by the page). Every call carries the
 * CSRF header the gateway asks for on state-changing calls made with the cookie.
 */
const CSRF_HEADER = 'x-switchyard-csrf';

/** Dispatched on window when the gateway answers 401 (session expired, key revoked). */
export const SIGNED_OUT_EVENT = 'switchyard:signed-out';

const consoleFetch: typeof fetch = async (input, init) => {
  const headers = new Headers(init?.headers);
  headers.set(CSRF_HEADER, '1');
  const response = await fetch(input, { ...init, headers, credentials: 'same-origin' });
  if (response.status === 401) window.dispatchEvent(new Event(SIGNED_OUT_EVENT));
  return response;
};

export const api = new Switchyard({ baseUrl: location.origin, fetch: consoleFetch, maxRetries: 1 });

export function errorText(error: unknown): string {
  if (error instanceof SwitchyardError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

export const session = {
  /** The signed-in caller, or undefined (204) when nobody is. */
  current: () => api.json<Session | undefined>('GET', '/session', { retry: false }),
  signIn: (apiKey: string) => api.json<Session>('POST', '/session', { body: { apiKey }, retry: false }),
  signOut: () => api.json<undefined>('DELETE', '/session', { retry: false }),
};

/** An EventSource on an API route (same origin: the session cookie goes with it). */
export function stream(route: string, query: Record<string, string | undefined> = {}): EventSource {
  const clean = Object.fromEntries(Object.entries(query).filter((e): e is [string, string] => !!e[1]));
  const search = new URLSearchParams(clean).toString();
  return new EventSource(`/api/v1${route}${search ? `?${search}` : ''}`);
}

/** The lifecycle events a job stream carries (SPEC §5). */
export const JOB_EVENTS = [
  'job.queued',
  'job.started',
  'job.progress',
  'job.retrying',
  'job.completed',
  'job.failed',
  'job.cancelled',
] as const;

/** `data` of a lifecycle CloudEvent, as far as the console reads it. */
export interface JobEventData {
  jobId: string;
  status: string;
  step: string | null;
  progress: number;
  message: string | null;
  attempt: number;
  seq: number;
  error?: { code: string; message: string } | null;
}

export function eventData(event: MessageEvent<string>): JobEventData | null {
  try {
    const parsed = JSON.parse(event.data) as { data?: JobEventData };
    return parsed.data ?? null;
  } catch {
    return null;
  }
}
