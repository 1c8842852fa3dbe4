import { ApiError } from '@switchyard/contracts';
import type { Caller } from '../auth/caller';
import { parseInclude, parseListQuery } from './jobs.controller';

const tenant: Caller = { tenant: 'acme', keyId: 'k', scopes: ['jobs:read'], admin: false };
const admin: Caller = { tenant: 'default', keyId: 'bootstrap', scopes: ['admin'], admin: true };

const problems = (query: Record<string, string>, caller: Caller) => {
  try {
    parseListQuery(query, caller);
    return [];
  } catch (error) {
    return (error as ApiError).details.map((d) => d.field);
  }
};

describe('parseListQuery', () => {
  it('scopes a tenant key to its tenant and lets admin keys choose one or all', () => {
    expect(parseListQuery({}, tenant).tenant).toBe('acme');
    expect(parseListQuery({ tenant: 'acme' }, tenant).tenant).toBe('acme');
    expect(parseListQuery({}, admin).tenant).toBeUndefined();
    expect(parseListQuery({ tenant: 'acme' }, admin).tenant).toBe('acme');
    expect(problems({ tenant: 'other' }, tenant)).toEqual(['tenant']);
  });

  it('bounds limit (≤ 200) and strings, and checks status and dates', () => {
    expect(parseListQuery({ limit: '200', status: 'queued' }, tenant)).toMatchObject({
      limit: 200,
      status: 'queued',
    });
    expect(parseListQuery({}, tenant).limit).toBe(50);
    expect(problems({ limit: '201' }, tenant)).toEqual(['limit']);
    expect(
      problems({ status: 'sleeping', createdAfter: 'yesterday', type: 'x'.repeat(201) }, tenant).sort(),
    ).toEqual(['createdAfter', 'status', 'type']);
  });
});

describe('parseListQuery filters by idempotency key and metadata', () => {
  it('splits metadata at the first = and refuses a pair without a key', () => {
    expect(parseListQuery({ idempotencyKey: 'order-7', metadata: 'project=a=b' }, tenant)).toMatchObject({
      idempotencyKey: 'order-7',
      metadata: { key: 'project', value: 'a=b' },
    });
    expect(parseListQuery({ metadata: 'empty=' }, tenant).metadata).toEqual({ key: 'empty', value: '' });
    expect(problems({ metadata: '=x' }, tenant)).toEqual(['metadata']);
    expect(problems({ metadata: 'nokey' }, tenant)).toEqual(['metadata']);
    expect(problems({ idempotencyKey: 'k'.repeat(201) }, tenant)).toEqual(['idempotencyKey']);
  });
});

describe('parseInclude', () => {
  it('leaves payload and result out unless named, comma-separated or repeated', () => {
    expect(parseInclude(undefined)).toEqual({ payload: false, result: false });
    expect(parseInclude('payload')).toEqual({ payload: true, result: false });
    expect(parseInclude('payload, result')).toEqual({ payload: true, result: true });
    expect(parseInclude(['result', 'payload'])).toEqual({ payload: true, result: true });
  });

  it('refuses anything else as validation_failed on include', () => {
    for (const raw of ['secrets', 'payload,', '']) {
      let caught: unknown;
      try {
        parseInclude(raw);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ApiError);
      expect((caught as ApiError).code).toBe('validation_failed');
      expect((caught as ApiError).details.map((d) => d.field)).toEqual(['include']);
    }
  });
});
