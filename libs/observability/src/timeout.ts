/**
 * Settles like `work`, or rejects with `message` once `ms` passed without an answer. For calls
 * that take no AbortSignal (ioredis, TypeORM): the work itself runs on, only the wait is bounded.
 */
export function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  const signal = AbortSignal.timeout(ms);
  return new Promise<T>((resolve, reject) => {
    const onTimeout = () => reject(new Error(message));
    signal.addEventListener('abort', onTimeout, { once: true });
    void work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onTimeout));
  });
}
