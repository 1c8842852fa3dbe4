/**
 * One answer, for every service, to "did this fail because a dependency (PostgreSQL, Redis,
 * RabbitMQ) is unreachable?" — as opposed to a bug or a bad request. The gateway answers such
 * errors with 503 `service_unavailable` and `Retry-After`, its AMQP intake requeues the message,
 * and the worker holds a delivery it could not claim instead of dead-lettering it.
 */
export type Dependency = 'postgres' | 'redis' | 'rabbitmq';

/** Node socket errors: the peer is unreachable or went away. */
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
 * PostgreSQL SQLSTATEs another attempt can clear: connection exceptions (08), insufficient
 * resources (53), operator intervention such as a shutdown or restart (57P01–57P03), a database
 * not accepting connections (55000), serialization failures and deadlocks (40001, 40P01) and lock
 * timeouts (55P03).
 */
function isTransientSqlState(code: string): boolean {
  return (
    code.startsWith('08') ||
    code.startsWith('53') ||
    ['57P01', '57P02', '57P03', '55000', '55P03', '40001', '40P01'].includes(code)
  );
}

/** Messages of pg, TypeORM, ioredis and amqplib errors that carry no code but mean "connection lost". */
const TRANSIENT_MESSAGES: [RegExp, Dependency | undefined][] = [
  [/connection terminated/i, 'postgres'],
  [/timeout exceeded when trying to connect/i, 'postgres'],
  [/cannot use a pool after calling end/i, 'postgres'],
  [/the database system is (starting up|shutting down)/i, 'postgres'],
  [/query read timeout/i, 'postgres'],
  [/connection is closed/i, 'redis'],
  [/stream isn't writeable/i, 'redis'],
  [/reached the max retries per request/i, 'redis'],
  [/client has encountered a connection error/i, undefined],
  [/channel (closed|ended)/i, 'rabbitmq'],
  [/connection closed/i, undefined],
];

/** Well-known ports, to name the dependency behind a bare socket error. */
const PORTS: Record<number, Dependency> = { 5432: 'postgres', 6379: 'redis', 5672: 'rabbitmq' };

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  port?: unknown;
  driverError?: unknown;
  cause?: unknown;
}

/**
 * The dependency an error says is unavailable (`'unknown'` when it is plainly a connection failure
 * of an unnamed peer), or undefined when the error is something else. Follows `cause` and
 * TypeORM's `driverError`.
 */
export function unavailableDependency(error: unknown): Dependency | 'unknown' | undefined {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current !== null && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const e = current as ErrorLike;
    // The messaging lib's errors (not connected, channel closed, publish not confirmed).
    if (e.name === 'MessagingError') return 'rabbitmq';
    if (e.name === 'MaxRetriesPerRequestError') return 'redis';
    if (e.name === 'IllegalOperationError') return 'rabbitmq';
    if (typeof e.code === 'string') {
      if (NETWORK_CODES.has(e.code)) return (typeof e.port === 'number' && PORTS[e.port]) || guessByName(e);
      if (/^[0-9A-Z]{5}$/.test(e.code) && isTransientSqlState(e.code)) return 'postgres';
    }
    if (typeof e.message === 'string') {
      const message = e.message;
      const match = TRANSIENT_MESSAGES.find(([pattern]) => pattern.test(message));
      if (match) return match[1] ?? guessByName(e);
    }
    current = e.driverError ?? e.cause;
  }
  return undefined;
}

/** Whether an error means a dependency is down or busy (see unavailableDependency). */
export function isDependencyUnavailable(error: unknown): boolean {
  return unavailableDependency(error) !== undefined;
}

function guessByName(e: ErrorLike): Dependency | 'unknown' {
  const name = typeof e.name === 'string' ? e.name : '';
  if (/QueryFailed|TypeORM|Postgres|DatabaseError/i.test(name)) return 'postgres';
  if (/Redis/i.test(name)) return 'redis';
  return 'unknown';
}

/** The Retry-After (seconds) a client gets while a dependency is unavailable. */
export const DEPENDENCY_RETRY_AFTER_S = 5;
