import Ajv from 'ajv';
import { BUILT_IN_QUEUES } from '@switchyard/contracts';
import { HandlerRegistry } from '@switchyard/handler-sdk';
import { BUILT_IN_JOB_TYPES } from '@switchyard/handlers';
import { SubmissionValidator } from '../jobs/submission.validator';
import { describeJobType } from './job-types.controller';

const registry = new HandlerRegistry(BUILT_IN_JOB_TYPES, BUILT_IN_QUEUES);
const validator = new SubmissionValidator(registry, { defaultTimeoutMs: 600000, maxTimeoutMs: 86400000 });

describe('the published job type schemas', () => {
  it('are the ones enforced: a synthetic job without steps or durationMs is accepted and so published', () => {
    const published = describeJobType(registry.get('synthetic')!).payloadSchema;
    // A client validating with the published schema alone (no defaults filled in).
    const client = new Ajv({ strict: false }).compile(published);
    for (const payload of [{}, { steps: 2 }, { durationMs: 10 }]) {
      expect(validator.check({ type: 'synthetic', payload }).ok).toBe(true);
      expect(client(structuredClone(payload))).toBe(true);
    }
    expect(client({ steps: 101 })).toBe(false);
  });

  it('never list a property with a default as required, for any built-in type', () => {
    const offenders: string[] = [];
    const visit = (schema: unknown, where: string): void => {
      if (typeof schema !== 'object' || schema === null) return;
      const s = schema as { properties?: Record<string, { default?: unknown }>; required?: string[] };
      for (const name of s.required ?? []) {
        if (s.properties?.[name]?.default !== undefined) offenders.push(`${where}.${name}`);
      }
      for (const [key, value] of Object.entries(schema)) visit(value, `${where}.${key}`);
    };
    for (const definition of registry.list())
      visit(describeJobType(definition).payloadSchema, definition.type);
    expect(offenders).toEqual([]);
  });
});
