import { isPoisonError } from './event-projector';

describe('isPoisonError', () => {
  it('takes PostgreSQL data, integrity and limit errors for a bad event', () => {
    expect(isPoisonError({ code: '22021' })).toBe(true); // invalid byte sequence (U+0000)
    expect(isPoisonError({ driverError: { code: '22P05' } })).toBe(true); // TypeORM's wrapper
    expect(isPoisonError({ code: '23505' })).toBe(true);
    expect(isPoisonError({ code: '54000' })).toBe(true);
    expect(isPoisonError(new TypeError('x'))).toBe(true);
  });

  it('takes an unavailable store for an outage, never for a bad event', () => {
    expect(isPoisonError(new Error('Connection terminated unexpectedly'))).toBe(false);
    expect(isPoisonError({ code: '57P01' })).toBe(false); // admin shutdown
    expect(isPoisonError({ code: '08006' })).toBe(false); // connection failure
    expect(isPoisonError({ code: '40P01' })).toBe(false); // deadlock
    expect(isPoisonError({ code: 'ECONNREFUSED' })).toBe(false);
    expect(isPoisonError({ name: 'ReplyError', message: 'LOADING Redis is loading the dataset' })).toBe(
      false,
    );
    expect(isPoisonError({ name: 'ReplyError', message: 'OOM command not allowed' })).toBe(false);
    expect(isPoisonError({ name: 'ReplyError', message: 'ERR Error running script' })).toBe(true);
  });
});
