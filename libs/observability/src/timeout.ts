/**
 * Settles like `work`, or rejects with `message` once `ms` passed without an answer. For calls
 * that take no AbortSignal (ioredis, TypeORM): the work itself runs on, only the wait is bounded.
 * The timer is cleared as soon as the work settles: on the gateway's rate-limit check (every API
 * request) a timer left to fire would cost a timer callback per request, and an
 * `AbortSignal.timeout` a DOMException (with its stack) on top.
 */
export function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), ms);
    work.finally(() => clearTimeout(timer)).then(resolve, reject);
  });
}
