import { ApiError } from '@switchyard/contracts';
import { parseReplayFilter } from './lifecycle.service';

function refusal(body: unknown): ApiError {
  try {
    parseReplayFilter(body);
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error(`accepted ${JSON.stringify(body)}`);
}

describe('parseReplayFilter (POST /dlq/replay)', () => {
  it('refuses an unknown field, such as a typo of errorCode, instead of ignoring it', () => {
    const error = refusal({ errorcode: 'timeout' });
    expect(error.code).toBe('validation_failed');
    expect(error.details).toEqual([expect.objectContaining({ field: 'errorcode' })]);
  });

  it('refuses an empty filter (and no body) unless it says all: true', () => {
    expect(refusal({}).code).toBe('validation_failed');
    expect(refusal(undefined).code).toBe('validation_failed');
    expect(refusal({ all: false }).code).toBe('validation_failed');
    expect(parseReplayFilter({ all: true })).toEqual({ type: undefined, errorCode: undefined, limit: 50 });
  });

  it('accepts type, errorCode and limit, and refuses bad values and all with a filter', () => {
    expect(parseReplayFilter({ type: 'synthetic', errorCode: 'timeout', limit: 10 })).toEqual({
      type: 'synthetic',
      errorCode: 'timeout',
      limit: 10,
    });
    expect(refusal({ type: 'synthetic', limit: 101 }).code).toBe('validation_failed');
    expect(refusal({ type: 5 }).code).toBe('validation_failed');
    expect(refusal({ all: 'yes' }).code).toBe('validation_failed');
    expect(refusal({ all: true, type: 'synthetic' }).code).toBe('validation_failed');
    expect(refusal([]).code).toBe('validation_failed');
  });
});
