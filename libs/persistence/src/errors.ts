/**
 * What the repositories report instead of PostgreSQL's SQLSTATE codes and constraint names, so
 * that no caller outside this lib reads a driver error. Three kinds:
 * - `IdempotencyKeyTaken`: the tenant's idempotency key already names a stored job.
 * - `DataRejected`: PostgreSQL refused the statement for the data it carried (a data exception,
 *   an integrity violation, a program limit); running it again with the same data fails again.
 * - an unavailable database (connection lost, server shutting down, deadlock, too many clients):
 *   left as the driver's error, which `@switchyard/resilience`'s `isDependencyUnavailable` (the
 *   one classifier every service and the HTTP error mapping use: 503 + Retry-After) recognises.
 */

/** PostgreSQL refused a statement for its data; `cause` is the driver's error. */
export class DataRejected extends Error {
  override readonly name: string = 'DataRejected';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A job insert met an existing job holding the same (tenant, idempotency key). */
export class IdempotencyKeyTaken extends DataRejected {
  override readonly name: string = 'IdempotencyKeyTaken';
}

/** A schedule insert or rename met another schedule of the tenant with the same name. */
export class ScheduleNameTaken extends DataRejected {
  override readonly name: string = 'ScheduleNameTaken';
}

/** A schedule insert would pass the tenant's TENANT_MAX_SCHEDULES. */
export class ScheduleQuotaExceeded extends Error {
  override readonly name: string = 'ScheduleQuotaExceeded';
  constructor(readonly max: number) {
    super(`the tenant already has ${max} schedules, the most it may have`);
  }
}

/** A schedule run insert met an existing run of the same schedule and tick. */
export class ScheduleTickTaken extends DataRejected {
  override readonly name: string = 'ScheduleTickTaken';
}

/** A flow insert met an existing flow holding the same (tenant, idempotency key). */
export class FlowIdempotencyKeyTaken extends DataRejected {
  override readonly name: string = 'FlowIdempotencyKeyTaken';
}

interface DriverError {
  code?: unknown;
  constraint?: unknown;
  message?: unknown;
  driverError?: unknown;
}

/** The node-postgres error under TypeORM's QueryFailedError wrapper (or the error itself). */
function driverErrorOf(error: unknown): DriverError | null {
  if (error === null || typeof error !== 'object') return null;
  const e = error as DriverError;
  return (e.driverError as DriverError | undefined) ?? e;
}

/** SQLSTATE classes 22 (data exception), 23 (integrity constraint) and 54 (program limit). */
const DATA_SQLSTATE = /^(22|23|54)[0-9A-Z]{3}$/;

/**
 * The typed error for a driver error this lib knows how to name, or the error unchanged. Applied
 * by the repository methods whose callers act on the difference.
 */
export function translateError(error: unknown): unknown {
  if (error instanceof DataRejected) return error;
  const pg = driverErrorOf(error);
  const code = pg?.code;
  if (typeof code !== 'string' || !DATA_SQLSTATE.test(code)) return error;
  const message = typeof pg?.message === 'string' ? pg.message : String(error);
  if (code === '23505' && pg?.constraint === 'jobs_idempotency') {
    return new IdempotencyKeyTaken(message, { cause: error });
  }
  if (code === '23505' && pg?.constraint === 'schedules_name')
    return new ScheduleNameTaken(message, { cause: error });
  if (code === '23505' && pg?.constraint === 'jobs_schedule_tick')
    return new ScheduleTickTaken(message, { cause: error });
  if (code === '23505' && pg?.constraint === 'flows_idempotency') {
    return new FlowIdempotencyKeyTaken(message, { cause: error });
  }
  return new DataRejected(message, { cause: error });
}

/** Runs `statement`, throwing its failure through translateError. */
export async function translated<T>(statement: () => Promise<T>): Promise<T> {
  try {
    return await statement();
  } catch (error) {
    throw translateError(error);
  }
}

/** Whether PostgreSQL rolled a statement back to break a deadlock (SQLSTATE 40P01). */
export function isDeadlock(error: unknown): boolean {
  return driverErrorOf(error)?.code === '40P01';
}
