// Test helpers of the persistence specs beside it (not part of the library's API).
import { randomUUID } from 'node:crypto';
import type { NewJob } from './jobs.repository';

/** A queued synthetic job of tenant `acme` in the `default` queue, as the gateway would insert it. */
export function newJob(overrides: Partial<NewJob> = {}): NewJob {
  return {
    id: randomUUID(),
    tenant: 'acme',
    type: 'synthetic',
    queue: 'default',
    priority: 5,
    maxAttempts: 3,
    timeoutMs: 60000,
    correlationId: 'corr-1',
    idempotencyKey: null,
    requestHash: 'h',
    payload: {},
    metadata: {},
    ...overrides,
  };
}
