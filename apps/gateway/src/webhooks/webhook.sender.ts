import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { checkWebhookTarget, guardedLookup, type LookupAll, type TargetPolicy } from './webhook.target';

/** Bytes of a receiver's answer read at most (the rest is discarded with the connection). */
export const RESPONSE_CAP_BYTES = 16384;
/** Longest Retry-After honoured. */
const RETRY_AFTER_MAX_MS = 3600000;

export interface SendOutcome {
  /** HTTP status; null when no answer came (network error, timeout, refused target). */
  status: number | null;
  /** 2xx. */
  ok: boolean;
  /** Network errors, timeouts, 5xx and 429 are retried; anything else is final. */
  retryable: boolean;
  /** The receiver's Retry-After (429 or 503), in ms. */
  retryAfterMs?: number;
  error?: string;
}

export interface SendOptions extends TargetPolicy {
  timeoutMs: number;
  /** How the connection resolves the host (default dns.lookup; tests stub it). */
  lookup?: LookupAll;
}

/** Retry-After as seconds or an HTTP date, in ms from now; undefined when absent or invalid. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.trim() === '') return undefined;
  const ms = /^\s*\d+\s*$/.test(text) ? Number(text) * 1000 : Date.parse(text) - now;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(RETRY_AFTER_MAX_MS, Math.max(0, ms));
}

/**
 * POSTs one signed body. Never follows a redirect (a 3xx is a failed attempt), gives up after
 * `timeoutMs` from the first byte sent to the last received, reads at most RESPONSE_CAP_BYTES of
 * the answer, and refuses private targets unless they are allowed (checked before and at connect).
 */
export async function sendWebhook(
  rawUrl: string,
  body: string,
  headers: Record<string, string>,
  options: SendOptions,
): Promise<SendOutcome> {
  let url: URL;
  try {
    url = await checkWebhookTarget(rawUrl, options);
  } catch (error) {
    return { status: null, ok: false, retryable: true, error: (error as Error).message };
  }
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<SendOutcome>((resolve) => {
    let settled = false;
    const finish = (outcome: SendOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'user-agent': 'Switchyard-Webhooks/1',
        },
        lookup: guardedLookup(options, options.lookup),
        agent: false,
      },
      (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        let read = 0;
        const done = () =>
          finish({
            status,
            ok: status >= 200 && status < 300,
            retryable: status >= 500 || status === 429,
            retryAfterMs:
              status === 429 || status === 503 ? parseRetryAfter(res.headers['retry-after']) : undefined,
            error: status >= 200 && status < 300 ? undefined : `HTTP ${status}`,
          });
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > RESPONSE_CAP_BYTES) {
            // The status is all a delivery needs: stop reading a large answer.
            res.destroy();
            done();
          }
        });
        res.on('end', done);
        res.on('error', done);
        res.on('close', done);
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new Error(`no answer within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    req.on('error', (error) => finish({ status: null, ok: false, retryable: true, error: error.message }));
    req.end(body);
  });
}
