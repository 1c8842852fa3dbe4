import type { JobEventData } from '@switchyard/contracts';
import {
  appendLiveValues,
  decodeLive,
  decodeStoredEvent,
  encodeStoredEvent,
  LIVE_OPTIONAL_FIELDS,
  LIVE_REQUIRED_FIELDS,
  LIVE_VALUES,
} from './live-progress';

const data: JobEventData = {
  jobId: 'j1',
  tenant: 't1',
  type: 'synthetic',
  queue: 'default',
  status: 'running',
  step: 'generating',
  progress: 42.5,
  message: 'half way',
  attempt: 2,
  seq: 7,
};
const time = '2025-01-02T03:04:05.000Z';

/** The fields apply-event.script.ts sets and removes for these values (every value a string). */
function encodeLive(state: JobEventData, at: string): { set: Record<string, string>; unset: string[] } {
  const values: string[] = [];
  appendLiveValues(values, state, at);
  expect(values).toHaveLength(LIVE_VALUES);
  const set: Record<string, string> = {};
  LIVE_REQUIRED_FIELDS.forEach((field, k) => (set[field] = values[k]));
  const present = values[LIVE_VALUES - 1];
  const unset: string[] = [];
  LIVE_OPTIONAL_FIELDS.forEach((field, k) => {
    if (present[k] === '1') set[field] = values[LIVE_REQUIRED_FIELDS.length + k];
    else unset.push(field);
  });
  return { set, unset };
}

/** What Redis would hold after HSET of the update. */
function asHash(update: ReturnType<typeof encodeLive>): Record<string, string> {
  return update.set;
}

describe('appendLiveValues / decodeLive', () => {
  it('round-trips a state, turning numeric strings back into numbers', () => {
    const hash = asHash(encodeLive(data, time));
    expect(hash.progress).toBe('42.5');
    expect(decodeLive(hash)).toEqual({
      jobId: 'j1',
      tenant: 't1',
      type: 'synthetic',
      queue: 'default',
      status: 'running',
      step: 'generating',
      progress: 42.5,
      message: 'half way',
      attempt: 2,
      seq: 7,
      updatedAt: time,
    });
  });

  it('removes null step and message and absent error/resultUrl instead of storing them', () => {
    const update = encodeLive({ ...data, step: null, message: null }, time);
    expect(update.unset.sort()).toEqual(['error', 'message', 'resultUrl', 'step']);
    const live = decodeLive(asHash(update));
    expect(live?.step).toBeNull();
    expect(live?.message).toBeNull();
    expect(live).not.toHaveProperty('error');
    expect(live).not.toHaveProperty('resultUrl');
  });

  it('stores an empty step or message, which is not an absent one', () => {
    const update = encodeLive({ ...data, step: '', message: '' }, time);
    expect(update.unset.sort()).toEqual(['error', 'resultUrl']);
    expect(decodeLive(asHash(update))).toMatchObject({ step: '', message: '' });
  });

  it('keeps error and resultUrl', () => {
    const error = { code: 'timeout', message: 'took too long', retryable: true };
    const update = encodeLive({ ...data, status: 'failed', error, resultUrl: '/r/1' }, time);
    expect(update.unset.sort()).toEqual([]);
    const live = decodeLive(asHash(update));
    expect(live?.error).toEqual(error);
    expect(live?.resultUrl).toBe('/r/1');
  });

  it('treats an empty or malformed hash as absent', () => {
    const good = asHash(encodeLive(data, time));
    expect(decodeLive({})).toBeNull();
    expect(decodeLive({ ...good, status: 'sleeping' })).toBeNull();
    expect(decodeLive({ ...good, seq: 'x' })).toBeNull();
    const { tenant: _tenant, ...noTenant } = good;
    expect(decodeLive(noTenant)).toBeNull();
  });
});

describe('encodeStoredEvent / decodeStoredEvent', () => {
  it('round-trips and takes seq from the event data', () => {
    const json = encodeStoredEvent({ event: 'progress', data, time, correlationId: 'c1' });
    expect(decodeStoredEvent(json)).toEqual({ seq: 7, event: 'progress', data, time, correlationId: 'c1' });
  });

  it('rejects what is not a stored event', () => {
    expect(decodeStoredEvent('not json')).toBeNull();
    expect(decodeStoredEvent('null')).toBeNull();
    expect(
      decodeStoredEvent(JSON.stringify({ seq: 1, event: 'exploded', data, time, correlationId: 'c' })),
    ).toBeNull();
  });
});
