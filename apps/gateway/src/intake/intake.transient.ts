import { MessagingError } from '@switchyard/messaging';

/** Node socket errors: the peer (PostgreSQL, Redis, RabbitMQ) is unreachable or went away. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
]);

/**
 * PostgreSQL SQLSTATEs that another attempt can clear: connection exceptions (08), insufficient
 * resources (53), operator intervention such as a restart (57P01–57P03), a database not accepting
 * connections (55000 with ALLOW_CONNECTIONS false, e.g. during maintenance), serialization
 * failures and deadlocks (40001, 40P01) and lock timeouts (55P03).
 */
function isTransientSqlState(code: string): boolean {
  return (
    code.startsWith('08') ||
    code.startsWith('53') ||
    ['57P01', '57P02', '57P03', '55000', '55P03', '40001', '40P01'].includes(code)
  );
}

/** Messages of pg, TypeORM and ioredis errors that carry no code but mean "connection lost". */
const TRANSIENT_MESSAGES = [
  /connection terminated/i,
  /connection is closed/i,
  /timeout exceeded when trying to connect/i,
  /cannot use a pool after calling end/i,
  /stream isn't writeable/i,
  /client has encountered a connection error/i,
  /reached the max retries per request/i,
];

/**
 * Whether an error (or anything in its `cause` / `driverError` chain) says a dependency is down
 * or busy, as opposed to a bug: an intake message that met it is requeued after a delay rather
 * than rejected, since nothing is wrong with the message.
 */
export function isTransientError(error: unknown): boolean {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current !== null && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    if (current instanceof MessagingError) return true;
    const e = current as {
      code?: unknown;
      name?: unknown;
      message?: unknown;
      driverError?: unknown;
      cause?: unknown;
    };
    if (typeof e.code === 'string' && (NETWORK_CODES.has(e.code) || isTransientSqlState(e.code))) return true;
    if (e.name === 'MaxRetriesPerRequestError') return true;
    if (
      typeof e.message === 'string' &&
      TRANSIENT_MESSAGES.some((pattern) => pattern.test(e.message as string))
    ) {
      return true;
    }
    current = e.driverError ?? e.cause;
  }
  return false;
}
