import { ApiError } from '@switchyard/contracts';
import { toErrorResponse } from './http-errors';

describe('toErrorResponse', () => {
  it('answers 503 service_unavailable with Retry-After when PostgreSQL is unreachable', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
      code: 'ECONNREFUSED',
      port: 5432,
    });
    const response = toErrorResponse(refused, 'c-1');
    expect(response.status).toBe(503);
    expect(response.body.error.code).toBe('service_unavailable');
    expect(response.body.error.message).toContain('PostgreSQL');
    expect(Number(response.headers['Retry-After'])).toBeGreaterThan(0);
  });

  it('answers 503 for a TypeORM error wrapping a server shutdown', () => {
    const driverError = Object.assign(new Error('terminating connection'), { code: '57P01' });
    const response = toErrorResponse(Object.assign(new Error('QueryFailedError'), { driverError }), 'c-2');
    expect(response.status).toBe(503);
    expect(response.headers['Retry-After']).toBeDefined();
  });

  it('keeps 500 internal_error for bugs, and ApiErrors as they are', () => {
    const bug = toErrorResponse(new TypeError('x is undefined'), 'c-3');
    expect(bug.status).toBe(500);
    expect(bug.body.error.code).toBe('internal_error');
    expect(bug.headers['Retry-After']).toBeUndefined();
    expect(toErrorResponse(new ApiError('not_found', 'no such job'), 'c-4').status).toBe(404);
  });
});
