import { validate, compileErrors } from '@readme/openapi-parser';
import { TestStack } from '@switchyard/testing';

jest.setTimeout(120000);

/** Every route of SPEC §4, as OpenAPI paths. */
const GATEWAY_ROUTES = [
  'post /api/v1/jobs',
  'post /api/v1/jobs/batch',
  'get /api/v1/jobs/{id}',
  'get /api/v1/jobs',
  'get /api/v1/jobs/{id}/events',
  'get /api/v1/events',
  'get /api/v1/jobs/{id}/result',
  'post /api/v1/files',
  'get /api/v1/job-types',
  'get /api/v1/queues',
  'get /api/v1/stats',
  'post /api/v1/admin/api-keys',
  'delete /api/v1/admin/api-keys/{id}',
  'post /api/v1/admin/cleanup',
  'get /api/v1/health',
];
/** SPEC §4's lifecycle routes (cancel, retry, DLQ). */
const LIFECYCLE_ROUTES = [
  'delete /api/v1/jobs/{id}',
  'post /api/v1/jobs/{id}/cancel',
  'post /api/v1/jobs/{id}/retry',
  'get /api/v1/dlq',
  'post /api/v1/dlq/{id}/replay',
  'post /api/v1/dlq/replay',
  'delete /api/v1/dlq/{id}',
];

interface Operation {
  responses: Record<
    string,
    { content?: Record<string, { schema?: { $ref?: string } }>; headers?: Record<string, unknown> }
  >;
  security?: unknown[];
}
type OpenApiDocument = {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
};

describe('the OpenAPI document at /docs/openapi.json', () => {
  let stack: TestStack;
  let gateway: string;
  let document: OpenApiDocument;

  beforeAll(async () => {
    stack = await TestStack.create();
    await stack.start(['gateway']);
    gateway = stack.service('gateway').url;
    const response = await fetch(`${gateway}/docs/openapi.json`);
    expect(response.status).toBe(200);
    document = (await response.json()) as OpenApiDocument;
  });

  afterAll(async () => {
    await stack?.destroy();
  });

  const operations = () =>
    Object.entries(document.paths).flatMap(([path, item]) =>
      Object.entries(item).map(([method, operation]) => ({ route: `${method} ${path}`, operation })),
    );

  it('passes an independent OpenAPI 3.1 validator', async () => {
    expect(document.openapi).toBe('3.1.0');
    const result = await validate(structuredClone(document) as never);
    if (!result.valid) throw new Error(compileErrors(result));
    expect(result.valid).toBe(true);
  });

  it('lists every route of SPEC §4, each with the error shape and the auth errors', () => {
    const routes = operations().map((o) => o.route);
    expect(routes).toEqual(expect.arrayContaining(GATEWAY_ROUTES));
    for (const { route, operation } of operations().filter((o) => o.route.includes(' /api/v1/'))) {
      const statuses = Object.keys(operation.responses);
      expect([route, statuses.some((s) => s.startsWith('2'))]).toEqual([route, true]);
      // Open: health, and the console's sign-in (a key in its body, or the session cookie).
      if (route === 'get /api/v1/health' || route.endsWith(' /api/v1/session')) {
        expect(operation.security).toEqual([]);
        continue;
      }
      expect([route, statuses]).toEqual([route, expect.arrayContaining(['401', '403', '429'])]);
      for (const status of statuses.filter((s) => Number(s) >= 400)) {
        expect([
          route,
          status,
          operation.responses[status]?.content?.['application/json']?.schema?.$ref,
        ]).toEqual([route, status, '#/components/schemas/Error']);
      }
      expect(operation.responses['429']?.headers).toHaveProperty('Retry-After');
    }
  });

  it('documents the lifecycle routes the gateway serves', async () => {
    // These routes live in apps/gateway/src/lifecycle; each one the gateway routes must be documented.
    const routes = operations().map((o) => o.route);
    for (const route of LIFECYCLE_ROUTES) {
      const [method, path] = route.split(' ') as [string, string];
      const url = `${gateway}${path.replace('{id}', '00000000-0000-4000-8000-000000000000')}`;
      const response = await fetch(url, {
        method: method.toUpperCase(),
        headers: { authorization: `Bearer ${stack.adminKey}`, 'content-type': 'application/json' },
        body: method === 'post' ? '{}' : undefined,
      });
      const body = (await response.json().catch(() => ({}))) as { error?: { message?: string } };
      const served = !(response.status === 404 && body.error?.message === 'no such route');
      if (served) expect(routes).toContain(route);
    }
  });

  it('publishes the schemas the routes refer to, and serves the browsable UI and YAML', async () => {
    expect(Object.keys(document.components.schemas)).toEqual(
      expect.arrayContaining([
        'Job',
        'SubmittedJob',
        'JobList',
        'JobSubmission',
        'BatchRequest',
        'Error',
        'File',
        'Health',
      ]),
    );
    const text = JSON.stringify(document);
    for (const ref of text.match(/#\/components\/schemas\/[A-Za-z]+/g) ?? []) {
      expect(document.components.schemas).toHaveProperty(ref.split('/').pop()!);
    }
    const ui = await fetch(`${gateway}/docs`);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toContain('swagger');
    const yaml = await fetch(`${gateway}/docs/openapi.yaml`);
    expect(yaml.status).toBe(200);
    expect(await yaml.text()).toContain('openapi: 3.1.0');
  });

  it('needs no API key, and comes gzip-compressed when asked', async () => {
    const response = await fetch(`${gateway}/docs/openapi.json`, { headers: { 'accept-encoding': 'gzip' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-encoding')).toBe('gzip');
  });
});
