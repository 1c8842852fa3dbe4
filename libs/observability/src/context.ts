import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

/** What every log line about one request or one job carries. */
export interface LogContext {
  correlationId: string;
  jobId?: string;
  tenant?: string;
  type?: string;
}

const storage = new AsyncLocalStorage<LogContext>();

/** Correlation context carried across awaits (Node's AsyncLocalStorage). */
export const correlation = {
  run<T>(context: LogContext, fn: () => T): T {
    return storage.run(context, fn);
  },
  get(): LogContext | undefined {
    return storage.getStore();
  },
  /** Adds fields to the current context in place (e.g. the tenant once the API key is known). */
  assign(fields: Partial<LogContext>): void {
    const store = storage.getStore();
    if (store) Object.assign(store, fields);
  },
  newId(): string {
    return randomUUID();
  },
};

const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's correlation id when it is sane, else a new one. */
export function acceptCorrelationId(value: unknown): string {
  return typeof value === 'string' && CORRELATION_ID.test(value) ? value : randomUUID();
}
