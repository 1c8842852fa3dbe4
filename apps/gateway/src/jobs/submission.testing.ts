import type { ValidSubmission } from './submission.validator';

/** A validated submission for specs: a `synthetic` job with the defaults, changed by `fields`. */
export function validSubmission(fields: Partial<ValidSubmission> = {}): ValidSubmission {
  return {
    type: 'synthetic',
    queue: 'default',
    payload: {},
    priority: 5,
    timeoutMs: 60_000,
    maxAttempts: 3,
    metadata: {},
    idempotencyKey: null,
    dedupe: false,
    cacheable: false,
    requestHash: '',
    runAt: null,
    concurrencyKey: null,
    rateKey: null,
    webhookUrl: null,
    ...fields,
  };
}
