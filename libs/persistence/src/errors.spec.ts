import { DataRejected, IdempotencyKeyTaken, isDeadlock, translateError } from './errors';

/** node-postgres' error as TypeORM wraps it (QueryFailedError.driverError), or bare. */
const wrapped = (fields: Record<string, string>) =>
  Object.assign(new Error('query failed'), { driverError: Object.assign(new Error('pg says no'), fields) });
const bare = (fields: Record<string, string>) => Object.assign(new Error('pg says no'), fields);

describe('translateError', () => {
  it('names a taken idempotency key, wrapped by TypeORM or not', () => {
    for (const error of [
      wrapped({ code: '23505', constraint: 'jobs_idempotency' }),
      bare({ code: '23505', constraint: 'jobs_idempotency' }),
    ]) {
      const translated = translateError(error);
      expect(translated).toBeInstanceOf(IdempotencyKeyTaken);
      expect(translated).toBeInstanceOf(DataRejected);
      expect(translated).toMatchObject({ message: 'pg says no', cause: error });
    }
  });

  it('takes data exceptions, other integrity violations and program limits for DataRejected', () => {
    for (const code of ['22021', '22P05', '23505', '23503', '54000']) {
      const translated = translateError(wrapped({ code, constraint: 'other' }));
      expect(translated).toBeInstanceOf(DataRejected);
      expect(translated).not.toBeInstanceOf(IdempotencyKeyTaken);
    }
  });

  it('leaves an unavailable database and anything else as it is (for isDependencyUnavailable)', () => {
    for (const error of [
      bare({ code: '57P01' }),
      wrapped({ code: '08006' }),
      wrapped({ code: '40P01' }),
      bare({ code: 'ECONNREFUSED' }),
      new Error('Connection terminated unexpectedly'),
      new TypeError('x'),
    ]) {
      expect(translateError(error)).toBe(error);
    }
    const already = new DataRejected('x');
    expect(translateError(already)).toBe(already);
    expect(translateError(null)).toBeNull();
  });
});

describe('isDeadlock', () => {
  it('recognises deadlock_detected only', () => {
    expect(isDeadlock(wrapped({ code: '40P01' }))).toBe(true);
    expect(isDeadlock(bare({ code: '40P01' }))).toBe(true);
    expect(isDeadlock(bare({ code: '40001' }))).toBe(false);
    expect(isDeadlock(undefined)).toBe(false);
  });
});
