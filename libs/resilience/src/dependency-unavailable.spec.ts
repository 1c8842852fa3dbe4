import { isDependencyUnavailable, unavailableDependency } from './dependency-unavailable';

class MessagingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MessagingError';
  }
}

describe('unavailableDependency', () => {
  it('knows the ways PostgreSQL reports being down, and names it', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
      code: 'ECONNREFUSED',
      port: 5432,
    });
    expect(unavailableDependency(refused)).toBe('postgres');
    expect(unavailableDependency(new Error('Connection terminated unexpectedly'))).toBe('postgres');
    expect(unavailableDependency(Object.assign(new Error('terminating connection'), { code: '57P01' }))).toBe(
      'postgres',
    );
    expect(unavailableDependency(Object.assign(new Error('too many clients'), { code: '53300' }))).toBe(
      'postgres',
    );
    expect(unavailableDependency(new Error('timeout exceeded when trying to connect'))).toBe('postgres');
  });

  it('knows Redis and RabbitMQ failures', () => {
    expect(unavailableDependency(new Error('Connection is closed.'))).toBe('redis');
    const maxRetries = Object.assign(new Error('Reached the max retries per request limit'), {
      name: 'MaxRetriesPerRequestError',
    });
    expect(unavailableDependency(maxRetries)).toBe('redis');
    expect(unavailableDependency(new MessagingError('AMQP down'))).toBe('rabbitmq');
    expect(unavailableDependency(new Error('Channel closed'))).toBe('rabbitmq');
    const redisRefused = Object.assign(new Error('connect ECONNREFUSED'), {
      code: 'ECONNREFUSED',
      port: 6379,
    });
    expect(unavailableDependency(redisRefused)).toBe('redis');
  });

  it('looks through TypeORM driverError and cause chains', () => {
    const driverError = Object.assign(new Error('terminating connection due to administrator command'), {
      code: '57P01',
    });
    expect(isDependencyUnavailable(Object.assign(new Error('QueryFailedError'), { driverError }))).toBe(true);
    expect(isDependencyUnavailable(new Error('wrapped', { cause: new Error('Connection terminated') }))).toBe(
      true,
    );
    const bare = Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT' });
    expect(unavailableDependency(bare)).toBe('unknown');
  });

  it('leaves bugs and data errors alone', () => {
    expect(isDependencyUnavailable(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBe(
      false,
    );
    expect(isDependencyUnavailable(Object.assign(new Error('invalid input syntax'), { code: '22P02' }))).toBe(
      false,
    );
    expect(isDependencyUnavailable(Object.assign(new Error('duplicate key'), { code: '23505' }))).toBe(false);
    expect(isDependencyUnavailable('a string')).toBe(false);
    const loop: { message: string; cause?: unknown } = { message: 'loop' };
    loop.cause = loop;
    expect(isDependencyUnavailable(loop)).toBe(false);
  });
});
