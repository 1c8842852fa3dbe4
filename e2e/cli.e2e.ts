import { TestStack, type TestApi } from '@switchyard/testing';
import { switchyard } from './support/cli';

jest.setTimeout(120000);

describe('the switchyard command against running services', () => {
  let stack: TestStack;
  let api: TestApi;
  let env: Record<string, string>;

  beforeAll(async () => {
    stack = await TestStack.create();
    await stack.start(['gateway', 'worker', 'progress-tracker']);
    api = stack.api();
    env = {
      SWITCHYARD_URL: stack.service('gateway').url,
      SWITCHYARD_API_KEY: stack.adminKey,
      HOME: '/nonexistent',
    };
  });

  afterAll(async () => {
    await stack?.destroy();
  });

  it('submit --watch in a terminal shows an advancing bar, the result, and exits 0', async () => {
    const { code, output } = await switchyard(
      ['submit', 'synthetic', '--payload', '{"durationMs":3000,"steps":10}', '--watch'],
      env,
      true,
    );
    const plain = output.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, 'g'), '');
    const percents = new Set([...plain.matchAll(/(\d{1,3})% /g)].map((m) => Number(m[1])));
    expect(code).toBe(0);
    expect([...percents].filter((p) => p > 0 && p < 100).length).toBeGreaterThanOrEqual(3);
    expect(plain).toMatch(/completed [0-9a-f-]{36}/);
    expect(plain).toContain('result: {"ok":true,"attempt":1}');
  });

  it('exits non-zero with the error code when the job fails', async () => {
    const { code, output } = await switchyard(
      ['submit', 'synthetic', '--payload', '{"fail":"permanent"}', '--no-dedupe', '--watch'],
      env,
    );
    expect(code).not.toBe(0);
    expect(output).toContain('permanent_error');
  });

  it('prints get and list as the API’s JSON with --json', async () => {
    const id = await api.submit({ type: 'synthetic', payload: { steps: 1 } });
    // Compare once the history is whole, so both reads see the same job: the completion writes its
    // row with the status, the tracker the job's one progress report (100 %) a moment later.
    const viaApi = await api.waitForJob(
      id,
      (j) =>
        j.history.some((h) => h.event === 'completed') &&
        j.history.some((h) => h.event === 'progress' && h.progress === 100),
    );
    const get = await switchyard(['get', id, '--json'], env);
    expect(get.code).toBe(0);
    expect(JSON.parse(get.output)).toEqual(viaApi);
    const list = await switchyard(['list', '--status', 'completed', '--json'], env);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.output)).toEqual((await api.get('/jobs?status=completed')).body);
  });

  it('pauses and resumes a queue: the table shows it, a key without the admin scope is refused', async () => {
    const pause = await switchyard(['queues', 'pause', 'generation'], env);
    expect(pause.code).toBe(0);
    expect(pause.output).toMatch(/^paused generation, \d+ in the backlog\n$/);
    const table = await switchyard(['queues'], env);
    expect(table.code).toBe(0);
    expect(table.output).toMatch(/QUEUE\s.*PAUSED\s.*BACKLOG\s.*RELEASED\s.*SCHEDULED\s.*RUNNING/);
    expect(table.output).toMatch(/generation\s+│ paused/);
    expect(table.output).toMatch(/default\s+│ no/);

    const reader = await stack.createApiKey('cli-tenant', ['jobs:read', 'jobs:write']);
    const refused = await switchyard(['queues', 'resume', 'generation'], {
      ...env,
      SWITCHYARD_API_KEY: reader.key,
    });
    expect(refused.code).not.toBe(0);
    expect(refused.output).toContain('forbidden');

    const resume = await switchyard(['queues', 'resume', 'generation', '--json'], env);
    expect(resume.code).toBe(0);
    expect(JSON.parse(resume.output)).toMatchObject({ queue: 'generation', paused: false });
    const unknown = await switchyard(['queues', 'pause', 'nowhere'], env);
    expect(unknown.code).not.toBe(0);
    expect(unknown.output).toContain('not_found');
  });
});
