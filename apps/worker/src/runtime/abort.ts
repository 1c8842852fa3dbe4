/** Why an attempt's AbortSignal fired; decides how the attempt ends. */
export class AbortReason extends Error {
  constructor(
    readonly code: 'timeout' | 'cancelled' | 'lease_lost' | 'shutdown',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Waits for a handler, but once `signal` fires gives it only `graceMs` to stop. A handler that
 * ignores its signal is abandoned: its late result or error is discarded.
 */
export function abandonAfterAbort<T>(work: Promise<T>, signal: AbortSignal, graceMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const abandoned = new Promise<never>((_, reject) => {
    onAbort = () => {
      timer = setTimeout(() => reject(signal.reason as Error), graceMs);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  // The abandoned handler may still settle later; nobody waits for it any more.
  work.catch(() => undefined);
  return Promise.race([work, abandoned]).finally(() => {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener('abort', onAbort);
  });
}
