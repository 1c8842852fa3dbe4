import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeApi } from '../test/fake-api';
import { runCli } from '../test/run-cli';
import { EXIT } from './cli.errors';

describe('switchyard queues, dlq, keys and bench', () => {
  let api: FakeApi;
  let env: Record<string, string>;

  beforeEach(async () => {
    api = await new FakeApi({ apiKey: 'admin' }).start();
    env = { SWITCHYARD_URL: api.url, SWITCHYARD_API_KEY: 'admin' };
  });
  afterEach(() => api.stop());

  it('shows queues as a table with their backlog, paused flag and levels, and the API JSON with --json', async () => {
    const out = await runCli(['queues'], env);
    expect(out.code).toBe(EXIT.ok);
    expect(out.stdout).toMatch(
      /QUEUE\s.*PAUSED\s.*BACKLOG\s.*RELEASED\s.*SCHEDULED\s.*RUNNING\s.*CONSUMERS\s.*LEVEL/,
    );
    expect(out.stdout).toMatch(/default\s.*│ no\s.*│ 12\s.*│ 3\s.*│ 4\s.*│ 1\s.*│ 2\s.*│ ok/);
    expect(out.stdout).toMatch(
      /generation\s.*│ paused\s.*│ 9000\s.*│ 16\s.*│ 0\s.*│ 8\s.*│ 10m 00s\s.*│ -\s.*│ warning/,
    );
    const json = await runCli(['queues', '--json'], env);
    expect((JSON.parse(json.stdout) as { items: unknown[] }).items).toHaveLength(2);
  });

  it('pauses and resumes a queue, and reports an unknown queue or a key without the admin scope', async () => {
    const pause = await runCli(['queues', 'pause', 'default'], env);
    expect(pause.code).toBe(EXIT.ok);
    expect(pause.stdout).toBe('paused default, 12 in the backlog\n');
    expect(api.requests.at(-1)).toMatchObject({ method: 'POST', url: '/api/v1/queues/default/pause' });
    expect(api.queues.find((q) => q.queue === 'default')?.paused).toBe(true);
    expect((await runCli(['queues'], env)).stdout).toMatch(/default\s.*│ paused\s.*│ 12/);

    const resume = await runCli(['queues', 'resume', 'default', '--json'], env);
    expect(resume.code).toBe(EXIT.ok);
    expect(JSON.parse(resume.stdout)).toMatchObject({ queue: 'default', paused: false, backlog: 12 });
    expect(api.requests.at(-1)?.url).toBe('/api/v1/queues/default/resume');

    const unknown = await runCli(['queues', 'pause', 'nope'], env);
    expect(unknown.code).toBe(EXIT.error);
    expect(unknown.stderr).toContain('not_found');

    const missing = await runCli(['queues', 'pause'], env);
    expect(missing.code).toBe(EXIT.usage);
  });

  it('refuses a pause with a key that lacks the admin scope', async () => {
    const reader = await new FakeApi({ apiKey: 'admin', readerKey: 'reader' }).start();
    try {
      const out = await runCli(['queues', 'pause', 'default'], {
        SWITCHYARD_URL: reader.url,
        SWITCHYARD_API_KEY: 'reader',
      });
      expect(out.code).toBe(EXIT.error);
      expect(out.stderr).toContain('forbidden');
      expect(reader.queues.find((q) => q.queue === 'default')?.paused).toBe(false);
    } finally {
      await reader.stop();
    }
  });

  it('lists, replays and discards dead-lettered jobs', async () => {
    const dead = api.addJob({
      status: 'failed',
      deadLettered: true,
      error: { code: 'timeout', message: 'took too long', retryable: false },
    });
    const other = api.addJob({ status: 'failed', deadLettered: true });
    const list = await runCli(['dlq', 'list', '--error-code', 'timeout'], env);
    expect(list.stdout).toMatch(new RegExp(`${dead.id}\\s.*│ timeout`));
    expect(api.requests[0].url).toBe('/api/v1/dlq?errorCode=timeout');

    const replay = await runCli(['dlq', 'replay', dead.id], env);
    expect(replay.stdout).toBe(`replayed ${dead.id}: queued again\n`);
    expect(api.jobs.get(dead.id)?.status).toBe('queued');

    const bulk = await runCli(['dlq', 'replay', '--type', 'synthetic'], env);
    expect(bulk.stdout).toBe('replayed 2 jobs\n');
    expect(api.requests.at(-1)?.body).toEqual({ type: 'synthetic' });

    expect((await runCli(['dlq', 'discard', other.id], env)).stdout).toBe(`discarded ${other.id}\n`);
    const gone = await runCli(['dlq', 'discard', other.id], env);
    expect(gone.code).toBe(EXIT.error);
    expect(gone.stderr).toContain('not_found');
  });

  it('dlq replay --all sends an explicit all: true, and refuses --all with a filter', async () => {
    const all = await runCli(['dlq', 'replay', '--all'], env);
    expect(all.code).toBe(EXIT.ok);
    expect(all.stdout).toBe('replayed 2 jobs\n');
    expect(api.requests.at(-1)?.body).toEqual({ all: true });
    const mixed = await runCli(['dlq', 'replay', '--all', '--type', 'synthetic'], env);
    expect(mixed.code).toBe(EXIT.usage);
    expect(api.requests).toHaveLength(1);
  });

  it('lists API keys as a table, filtered by tenant, and as JSON', async () => {
    const out = await runCli(['keys', 'list'], env);
    expect(out.code).toBe(EXIT.ok);
    expect(out.stdout).toMatch(/ID\s.*TENANT\s.*NAME\s.*SCOPES\s.*CREATED\s.*REVOKED/);
    expect(out.stdout).toMatch(/key-1\s.*│ acme\s.*│ ci\s.*│ jobs:read\s.*│ 2026-01-02 03:04:05Z\s.*│ -/);
    expect(out.stdout).toMatch(/key-2\s.*│ other\s.*│ 2026-01-03 00:00:00Z/);
    expect(out.stdout).not.toContain('sk-');
    const acme = await runCli(['keys', 'list', '--tenant', 'acme', '--json'], env);
    expect(api.requests.at(-1)?.url).toBe('/api/v1/admin/api-keys?tenant=acme');
    expect((JSON.parse(acme.stdout) as { items: { id: string }[] }).items.map((k) => k.id)).toEqual([
      'key-1',
    ]);
  });

  it('refuses a bare dlq replay rather than replaying everything', async () => {
    const out = await runCli(['dlq', 'replay'], env);
    expect(out.code).toBe(EXIT.usage);
    expect(api.requests).toHaveLength(0);
  });

  it('creates a key, showing it once, and revokes it', async () => {
    const created = await runCli(
      ['keys', 'create', '--tenant', 'acme', '--name', 'ci', '--scopes', 'jobs:read'],
      env,
    );
    expect(created.code).toBe(EXIT.ok);
    expect(api.requests[0].body).toEqual({ tenant: 'acme', name: 'ci', scopes: ['jobs:read'] });
    expect(created.stdout).toContain('key: sk-live-abc');
    expect(created.stderr).toContain('shown only this once');
    const json = await runCli(['keys', 'create', '--tenant', 'acme', '--name', 'ci', '--json'], env);
    expect(JSON.parse(json.stdout)).toEqual({ id: 'key-1', key: 'sk-live-abc' });
    expect((await runCli(['keys', 'revoke', 'key-1'], env)).stdout).toBe('revoked key key-1\n');
  });

  it('bench runs `npm run bench` in the repository and passes its exit code on', async () => {
    const repo = mkdtempSync(join(tmpdir(), 'switchyard-bench-'));
    writeFileSync(join(repo, 'bench.js'), "console.log('bench ran', process.argv.slice(2).join(' '));");
    writeFileSync(
      join(repo, 'package.json'),
      JSON.stringify({ name: 'switchyard', scripts: { bench: 'node bench.js' } }),
    );
    const out = await runCli(['bench', '--dir', repo, '--', '--quick'], { PATH: process.env.PATH ?? '' });
    expect(out.code).toBe(EXIT.ok);
    expect(out.stdout).toContain('bench ran --quick');

    writeFileSync(
      join(repo, 'package.json'),
      JSON.stringify({ name: 'switchyard', scripts: { bench: 'exit 7' } }),
    );
    expect((await runCli(['bench', '--dir', repo], { PATH: process.env.PATH ?? '' })).code).toBe(EXIT.error);
  }, 30_000);
});
