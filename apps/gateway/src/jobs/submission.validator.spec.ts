import { BUILT_IN_QUEUES } from '@switchyard/contracts';
import { HandlerRegistry } from '@switchyard/handler-sdk';
import { BUILT_IN_JOB_TYPES } from '@switchyard/handlers';
import {
  canonicalJson,
  fingerprintOf,
  NO_REQUEST_HASH,
  runAtOf,
  SubmissionValidator,
} from './submission.validator';

const validator = new SubmissionValidator(new HandlerRegistry(BUILT_IN_JOB_TYPES, BUILT_IN_QUEUES), {
  defaultTimeoutMs: 600000,
  maxTimeoutMs: 86400000,
});

describe('SubmissionValidator', () => {
  it('fills defaults and maps priority names', () => {
    const result = validator.check({ type: 'synthetic', payload: {}, priority: 'high' });
    expect(result.ok && result.value).toMatchObject({
      queue: 'default',
      priority: 7,
      maxAttempts: 3,
      timeoutMs: 600000,
      payload: { durationMs: 0, steps: 0 },
      cacheable: false,
    });
  });

  it('refuses an audio.analyze path that is absolute or has a ".." segment at submission', () => {
    const check = (path: string) => validator.check({ type: 'audio.analyze', payload: { path } });
    for (const bad of [
      '/etc/passwd',
      '../secret.wav',
      'a/../../b.wav',
      'a/..',
      '..',
      '\\\\srv\\x.wav',
      'C:\\x.wav',
      'a\\..\\b.wav',
    ]) {
      const result = check(bad);
      expect(result.ok).toBe(false);
      expect(!result.ok && result.error.code).toBe('validation_failed');
    }
    for (const good of ['a.wav', 'albums/one/a.wav', 'a..b.wav', '...', '.hidden/a.wav']) {
      expect(check(good).ok).toBe(true);
    }
  });

  it('schedules a job from runAt or delayMs, and refuses both at once', () => {
    const ahead = new Date(Date.now() + 60000).toISOString();
    const byTime = validator.check({ type: 'synthetic', payload: {}, runAt: ahead });
    expect(byTime.ok && byTime.value.runAt).toBe(ahead);
    const before = Date.now();
    const byDelay = validator.check({ type: 'synthetic', payload: {}, delayMs: 5000 });
    const at = byDelay.ok && byDelay.value.runAt ? Date.parse(byDelay.value.runAt) : 0;
    expect(at).toBeGreaterThanOrEqual(before + 5000);
    expect(at).toBeLessThanOrEqual(Date.now() + 5000);
    const now = validator.check({ type: 'synthetic', payload: {} });
    expect(now.ok && now.value.runAt).toBeNull();
    const both = validator.check({ type: 'synthetic', payload: {}, runAt: ahead, delayMs: 5 }, 2);
    expect(!both.ok && both.error.code).toBe('validation_failed');
    expect(!both.ok && both.error.details).toEqual([expect.objectContaining({ index: 2, field: 'delayMs' })]);
    expect(validator.check({ type: 'synthetic', payload: {}, runAt: 'tomorrow' }).ok).toBe(false);
    expect(validator.check({ type: 'synthetic', payload: {}, delayMs: -1 }).ok).toBe(false);
  });

  it('queues at once a runAt in the past and a delayMs of 0', () => {
    expect(runAtOf('2020-01-01T00:00:00Z', undefined)).toBeNull();
    expect(runAtOf(undefined, 0)).toBeNull();
    expect(runAtOf(undefined, undefined)).toBeNull();
    expect(runAtOf(undefined, 1000, 5000)).toBe(new Date(6000).toISOString());
  });

  it('stores the rate key a type derives from the payload (provider.generate: provider:<name>), none for others', () => {
    const provider = validator.check({
      type: 'provider.generate',
      payload: { provider: 'studio', operation: 'speak' },
    });
    expect(provider.ok && provider.value.rateKey).toBe('provider:studio');
    const plain = validator.check({ type: 'synthetic', payload: {} });
    expect(plain.ok && plain.value.rateKey).toBeNull();
  });

  it('names the unknown type', () => {
    const result = validator.check({ type: 'nope', payload: {} });
    expect(!result.ok && result.error.code).toBe('unknown_job_type');
  });

  it('reports payload problems with their field path and the batch index', () => {
    const result = validator.check({ type: 'synthetic', payload: { durationMs: 700000, bogus: 1 } }, 4);
    expect(!result.ok && result.error.details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ index: 4, field: 'payload.durationMs' }),
        expect.objectContaining({ index: 4, field: 'payload.bogus' }),
      ]),
    );
  });

  it('rejects oversized metadata, a timeout above the maximum and priority 10', () => {
    const big = validator.check({ type: 'synthetic', payload: {}, metadata: { x: 'y'.repeat(9000) } });
    expect(!big.ok && big.error.details[0]?.field).toBe('metadata');
    const slow = validator.check({ type: 'synthetic', payload: {}, timeoutMs: 86400001 });
    expect(!slow.ok && slow.error.details[0]?.field).toBe('timeoutMs');
    expect(validator.check({ type: 'synthetic', payload: {}, priority: 10 }).ok).toBe(false);
  });

  it('hashes equal requests equally whatever the key order', () => {
    const a = validator.check({ type: 'synthetic', payload: { steps: 2, durationMs: 5 } });
    const b = validator.check({ type: 'synthetic', payload: { durationMs: 5, steps: 2 } });
    expect(a.ok && b.ok && a.value.requestHash === b.value.requestHash).toBe(true);
    expect(canonicalJson({ b: 1, a: [2, { d: 1, c: 2 }] })).toBe('{"a":[2,{"c":2,"d":1}],"b":1}');
  });
});

describe('request hashes', () => {
  const hashOf = (body: Record<string, unknown>, index?: number) => {
    const result = validator.check(body, index);
    if (!result.ok) throw result.error;
    return result.value.requestHash;
  };

  it('are computed only where the dedup window or the result cache can use them', () => {
    const full = hashOf({ type: 'synthetic', payload: { durationMs: 1 } });
    expect(full).toMatch(/^[0-9a-f]{64}$/);
    expect(hashOf({ type: 'synthetic', payload: { durationMs: 1 }, dedupe: false })).toBe(NO_REQUEST_HASH);
    // Cacheable requests always have theirs, also as batch items.
    const cacheable = hashOf({ type: 'synthetic', payload: { cacheable: true }, dedupe: false });
    expect(cacheable).toMatch(/^[0-9a-f]{64}$/);
    expect(hashOf({ type: 'synthetic', payload: { cacheable: true } }, 3)).toBe(cacheable);
    // Batch items never join the dedup window.
    expect(hashOf({ type: 'synthetic', payload: { durationMs: 1 } }, 0)).toBe(NO_REQUEST_HASH);
  });
});

describe('fingerprintOf', () => {
  it('is equal for the same normalised request and differs when anything but the key changes', () => {
    const check = (body: Record<string, unknown>) => {
      const result = validator.check(body);
      if (!result.ok) throw result.error;
      return fingerprintOf(result.value);
    };
    const base = check({ type: 'synthetic', payload: { steps: 2 } });
    expect(check({ type: 'synthetic', payload: { steps: 2 }, priority: 'normal', idempotencyKey: 'k' })).toBe(
      base,
    );
    expect(check({ type: 'synthetic', payload: { steps: 3 } })).not.toBe(base);
    expect(check({ type: 'synthetic', payload: { steps: 2 }, priority: 'high' })).not.toBe(base);
    expect(check({ type: 'synthetic', payload: { steps: 2 }, metadata: { a: 1 } })).not.toBe(base);
  });

  it('refuses the NUL character, which PostgreSQL cannot store, in the payload or metadata', () => {
    const inPayload = validator.check({ type: 'synthetic', payload: { durationMs: 1 }, metadata: {} });
    expect(inPayload.ok).toBe(true);
    const nul = validator.check({ type: 'synthetic', payload: {}, metadata: { note: 'a\u0000b' } });
    expect(!nul.ok && nul.error.code).toBe('validation_failed');
    expect(!nul.ok && nul.error.details.map((d) => d.field)).toEqual(['metadata']);
    // The six characters `\u0000` typed as text are fine.
    expect(validator.check({ type: 'synthetic', payload: {}, metadata: { note: '\\u0000' } }).ok).toBe(true);
  });
});
