import { MessagingError } from '@switchyard/messaging';
import { isTransientError } from './intake.transient';

describe('isTransientError', () => {
  it('knows the ways PostgreSQL, Redis and RabbitMQ report being down or busy', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(isTransientError(refused)).toBe(true);
    expect(isTransientError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isTransientError(Object.assign(new Error('terminating connection'), { code: '57P01' }))).toBe(
      true,
    );
    expect(isTransientError(Object.assign(new Error('too many clients'), { code: '53300' }))).toBe(true);
    expect(isTransientError(Object.assign(new Error('not accepting connections'), { code: '55000' }))).toBe(
      true,
    );
    expect(isTransientError(new Error('Connection is closed.'))).toBe(true);
    expect(isTransientError(new MessagingError('not_connected', 'AMQP down'))).toBe(true);
  });

  it('looks through TypeORM driverError and cause chains', () => {
    const driverError = Object.assign(new Error('could not serialize access'), { code: '40001' });
    expect(isTransientError(Object.assign(new Error('QueryFailedError'), { driverError }))).toBe(true);
    expect(isTransientError(new Error('wrapped', { cause: new Error('Connection terminated') }))).toBe(true);
  });

  it('leaves bugs and data errors alone', () => {
    expect(isTransientError(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBe(false);
    expect(isTransientError(Object.assign(new Error('invalid input syntax'), { code: '22P02' }))).toBe(false);
    expect(isTransientError('a string')).toBe(false);
    const loop: { message: string; cause?: unknown } = { message: 'loop' };
    loop.cause = loop;
    expect(isTransientError(loop)).toBe(false);
  });
});
