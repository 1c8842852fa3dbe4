// Job types from WORKER_HANDLER_MODULES (SPEC §7, issue 7): a one-file module runs end to end,
// the worker publishes every type it runs to `job_types` for the gateway, and refuses to start on
// a duplicate type or an unknown queue, naming the module.
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Client } from 'pg';
import { freePort, runServiceToExit, TestStack, type TestApi } from '@switchyard/testing';
import { adminApi, readArtifact, REPO_ROOT } from './fixtures/handlers-support';

jest.setTimeout(120000);

const ECHO = 'e2e/fixtures/handlers/echo.handler.js';

/** The `msg` of the fatal JSON line a service logs when it refuses to start. */
function fatalMessage(output: string): string {
  for (const line of output.split('\n')) {
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if (entry.level === 'fatal' && entry.msg) return entry.msg;
    } catch {
      // not a JSON line
    }
  }
  return output;
}

describe('job types from WORKER_HANDLER_MODULES', () => {
  let stack: TestStack;
  let api: TestApi;

  beforeAll(async () => {
    stack = await TestStack.create();
    // The worker first: the gateway reads the types it published when it starts.
    await stack.spawn('worker', { WORKER_HANDLER_MODULES: ` ${ECHO} , ` });
    await stack.start(['gateway', 'progress-tracker']);
    api = adminApi(stack);
  });

  afterAll(async () => {
    await stack?.destroy();
    if (stack) await rm(resolve(REPO_ROOT, 'tmp', stack.id), { recursive: true, force: true });
  });

  it('publishes the built-in and module types to job_types with their schemas and static defaults', async () => {
    const db = new Client({ connectionString: stack.db.url });
    await db.connect();
    try {
      const { rows } = await db.query<{
        type: string;
        queue: string;
        payload_schema: Record<string, unknown>;
        defaults: Record<string, unknown>;
        computed_defaults: string[];
        source: string;
      }>(
        `SELECT type, queue, payload_schema, defaults, computed_defaults, source FROM job_types ORDER BY type`,
      );
      expect(rows.map((r) => r.type)).toEqual([
        'audio.analyze',
        'audio.generate',
        'provider.generate',
        'synthetic',
        'test.echo',
      ]);
      const byType = new Map(rows.map((r) => [r.type, r]));
      expect(byType.get('test.echo')).toMatchObject({
        queue: 'default',
        source: ECHO,
        defaults: { maxAttempts: 2, timeoutMs: 30000, cacheable: false },
        computed_defaults: [],
        payload_schema: { required: ['message'], additionalProperties: false },
      });
      expect(byType.get('audio.analyze')).toMatchObject({
        queue: 'analysis',
        source: 'built-in',
        defaults: { cacheable: true },
      });
      // synthetic decides `cacheable` from its payload: not expressible as JSON.
      expect(byType.get('synthetic')?.computed_defaults).toEqual(['cacheable']);
    } finally {
      await db.end();
    }
  });

  it('lists the module-defined type in GET /job-types, with its schema and defaults', async () => {
    const res = await api.get<{
      items: {
        type: string;
        queue: string;
        payloadSchema: Record<string, unknown>;
        defaults: Record<string, unknown>;
      }[];
    }>('/job-types');
    expect(res.status).toBe(200);
    expect(res.body.items.map((t) => t.type).sort()).toEqual([
      'audio.analyze',
      'audio.generate',
      'provider.generate',
      'synthetic',
      'test.echo',
    ]);
    expect(res.body.items.find((t) => t.type === 'test.echo')).toMatchObject({
      queue: 'default',
      payloadSchema: { required: ['message'], additionalProperties: false },
      defaults: { maxAttempts: 2, timeoutMs: 30000 },
    });
  });

  it('runs a job of the module-defined type end to end', async () => {
    const id = await api.submit({ type: 'test.echo', payload: { message: 'hello from a module' } });
    const job = await api.waitForStatus(id, 'completed', 20000);
    expect(job).toMatchObject({
      attempts: 1,
      maxAttempts: 2,
      result: { echo: 'hello from a module', attempt: 1 },
    });
    const artifact = await readArtifact(stack, id);
    expect(artifact).toMatchObject({ contentType: 'text/plain', name: 'echo.txt' });
    expect(artifact.bytes.toString()).toBe('hello from a module');
    const invalid = await api.post('/jobs', { type: 'test.echo', payload: { message: '' } });
    expect(invalid.status).toBe(400);
  });

  it.each([
    [
      'a duplicate type',
      'e2e/fixtures/handlers/duplicate-type.handler.js',
      ['duplicate job type "synthetic"', 'built-in'],
    ],
    [
      'an unknown queue',
      'e2e/fixtures/handlers/unknown-queue.handler.js',
      ['unknown queue "nowhere"', 'test.lost'],
    ],
    ['a module that does not exist', 'e2e/fixtures/handlers/missing.handler.js', ['cannot load']],
  ])('refuses to start on %s, naming the module', async (_case, module, messages) => {
    const { code, output } = await runServiceToExit('worker', {
      ...stack.env,
      WORKER_PORT: String(await freePort()),
      WORKER_HANDLER_MODULES: `${ECHO},${module}`,
    });
    expect(code).toBe(1);
    for (const message of [...messages, module]) expect(fatalMessage(output)).toContain(message);
  });

  it('refuses the same type from two modules, naming both', async () => {
    const { code, output } = await runServiceToExit('worker', {
      ...stack.env,
      WORKER_PORT: String(await freePort()),
      WORKER_HANDLER_MODULES: `${ECHO},./${ECHO}`,
    });
    expect(code).toBe(1);
    expect(fatalMessage(output)).toContain(
      `duplicate job type "test.echo" (defined by ${ECHO} and by ./${ECHO})`,
    );
  });
});
