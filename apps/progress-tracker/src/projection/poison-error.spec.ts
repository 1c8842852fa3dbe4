import { DataRejected } from '@switchyard/persistence';
import { isPoisonError } from './event-projector';

describe('isPoisonError', () => {
  it('takes data PostgreSQL refused and encoding errors for a bad event', () => {
    // ProjectionRepository reports data exceptions, integrity violations and limits so.
    expect(isPoisonError(new DataRejected('invalid byte sequence for encoding "UTF8": 0x00'))).toBe(true);
    expect(isPoisonError(new TypeError('x'))).toBe(true);
    expect(isPoisonError(new RangeError('x'))).toBe(true);
  });

  it('takes an unavailable store for an outage, never for a bad event', () => {
    expect(isPoisonError(new Error('Connection terminated unexpectedly'))).toBe(false);
    expect(isPoisonError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(
      false,
    );
    expect(isPoisonError({ name: 'ReplyError', message: 'LOADING Redis is loading the dataset' })).toBe(
      false,
    );
    expect(isPoisonError({ name: 'ReplyError', message: 'OOM command not allowed' })).toBe(false);
    expect(isPoisonError({ name: 'ReplyError', message: 'ERR Error running script' })).toBe(true);
  });
});
