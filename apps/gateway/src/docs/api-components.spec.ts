import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { componentSchemas } from './api-components';

describe('the OpenAPI components generated from the contracts catalogue', () => {
  const components = componentSchemas(7);
  const refs = (value: unknown): string[] =>
    (JSON.stringify(value).match(/#\/components\/schemas\/\w+/g) ?? []).map((r) => r.split('/').pop()!);

  it('refers to a nested named body instead of copying it, and every reference resolves', () => {
    expect(refs(components['JobDetail'])).toEqual(expect.arrayContaining(['Job', 'HistoryEntry']));
    expect(refs(components['SubmittedJob'])).toContain('Job');
    expect(refs(components['JobList'])).toEqual(['Job']);
    expect(refs(components['BatchRequest'])).toEqual(['JobSubmission']);
    expect(refs(components['BatchResponse'])).toEqual(['SubmittedJob']);
    expect(refs(components['Job'])).toEqual(['JobError']);
    for (const name of refs(components)) expect(components).toHaveProperty(name);
    expect(components['BatchRequest']).toMatchObject({ properties: { jobs: { maxItems: 7 } } });
  });

  it('describes what the gateway answers', () => {
    const ajv = new Ajv2020({ strict: false });
    addFormats(ajv);
    for (const [name, schema] of Object.entries(components)) {
      const text = JSON.stringify(schema).replace(/#\/components\/schemas\//g, 'https://test/');
      ajv.addSchema({ ...(JSON.parse(text) as object), $id: `https://test/${name}` });
    }
    const validate = ajv.getSchema('https://test/JobList')!;
    const job = {
      id: '9b2f6a55-3c1e-4c5e-9f9e-0a1b2c3d4e5f',
      type: 'synthetic',
      queue: 'default',
      tenant: 'alpha',
      status: 'failed',
      priority: 5,
      step: null,
      progress: 0,
      message: null,
      attempts: 1,
      maxAttempts: 3,
      timeoutMs: 1000,
      correlationId: 'c',
      idempotencyKey: null,
      payload: {},
      metadata: {},
      result: null,
      resultUrl: null,
      error: { code: 'permanent_error', message: 'no', retryable: false },
      createdAt: '2026-01-01T00:00:00.000Z',
      startedAt: null,
      finishedAt: null,
      nextAttemptAt: null,
      runAt: null,
      cancelRequested: false,
      deadLettered: true,
    };
    expect(validate({ items: [job], nextCursor: null })).toBe(true);
    expect(validate({ items: [{ ...job, status: 'lost' }], nextCursor: null })).toBe(false);
  });
});
