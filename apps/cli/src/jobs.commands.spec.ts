import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { closedPort, FakeApi } from '../test/fake-api';
import { emptyHome, runCli } from '../test/run-cli';
import { EXIT } from './cli.errors';

describe('switchyard job commands against the API', () => {
  let api: FakeApi;
  let env: Record<string, string>;

  beforeEach(async () => {
    api = await new FakeApi({ apiKey: 'sk-test' }).start();
    env = { SWITCHYARD_URL: api.url, SWITCHYARD_API_KEY: 'sk-test' };
  });
  afterEach(() => api.stop());

  it('prints exactly the API JSON for get --json', async () => {
    const job = api.addJob({ status: 'running', progress: 40, step: 'generating' });
    const out = await runCli(['get', job.id, '--json'], env);
    expect(out.code).toBe(EXIT.ok);
    expect(JSON.parse(out.stdout)).toEqual(job);
    expect(api.requests[0].headers.authorization).toBe('Bearer sk-test');
  });

  it('prints exactly the API JSON for list --json, passing the filters on', async () => {
    api.addJob({ status: 'failed' });
    const running = api.addJob({ status: 'running' });
    const out = await runCli(
      ['--json', 'list', '--status', 'running', '--type', 'synthetic', '--limit', '5'],
      env,
    );
    expect(out.code).toBe(EXIT.ok);
    expect(JSON.parse(out.stdout)).toEqual({ items: [running], nextCursor: null });
    expect(api.requests[0].url).toBe('/api/v1/jobs?status=running&type=synthetic&limit=5');
  });

  it('shows list as a table and get as fields', async () => {
    const job = api.addJob({ status: 'completed', progress: 100, result: { ok: true } });
    const table = await runCli(['list'], env);
    expect(table.stdout).toContain(job.id);
    expect(table.stdout).toMatch(/STATUS.*\n.*completed/s);
    expect(table.stdout).not.toContain('\u001b['); // not a terminal: no colour
    const details = await runCli(['get', job.id], env);
    expect(details.stdout).toMatch(/status\s+completed/);
    expect(details.stdout).toContain('{"ok":true}');
  });

  it('submits with the payload and priority and prints the job', async () => {
    const out = await runCli(
      ['submit', 'synthetic', '--payload', '{"durationMs":10}', '--priority', 'high', '--json'],
      env,
    );
    expect(out.code).toBe(EXIT.ok);
    expect(api.requests[0].body).toEqual({ type: 'synthetic', payload: { durationMs: 10 }, priority: 7 });
    const printed = JSON.parse(out.stdout) as { id: string };
    expect(printed).toEqual(api.jobs.get(printed.id));
  });

  it('reads the payload from a file', async () => {
    const file = join(emptyHome, 'payload.json');
    writeFileSync(file, '{"steps": 2}');
    const out = await runCli(['submit', 'synthetic', '--payload-file', file], env);
    expect(out.code).toBe(EXIT.ok);
    expect(out.stdout).toMatch(/^submitted [0-9a-f-]{36} \(synthetic → default, priority 5, queued/);
    expect(api.requests[0].body).toEqual({ type: 'synthetic', payload: { steps: 2 } });
  });

  it('submit --watch follows the job to completion, prints the result and exits 0', async () => {
    const out = await runCli(
      ['submit', 'synthetic', '--payload', '{"durationMs":3000,"steps":10}', '--watch'],
      env,
    );
    expect(out.stderr).toBe('');
    expect(out.code).toBe(EXIT.ok);
    const percentages = [...out.stdout.matchAll(/^\s*(\d+)% /gm)].map((m) => Number(m[1]));
    expect(new Set(percentages).size).toBeGreaterThanOrEqual(10);
    expect(percentages).toEqual([...percentages].sort((a, b) => a - b));
    expect(out.stdout).toMatch(/step 5 of 10/);
    expect(out.stdout).toMatch(/✔ completed [0-9a-f-]{36} in \d/);
    expect(out.stdout.trimEnd().split('\n').pop()).toBe('result: {"ok":true,"attempt":1}');
  });

  it('submit --watch exits non-zero and prints the error code when the job fails', async () => {
    const out = await runCli(
      ['submit', 'synthetic', '--payload', '{"steps":4,"fail":"permanent"}', '--watch'],
      env,
    );
    expect(out.code).toBe(EXIT.jobFailed);
    expect(out.stderr).toMatch(/✖ failed [0-9a-f-]{36}.*: permanent_error: synthetic failure requested/);
  });

  it('submit --watch --json prints the final job only', async () => {
    const out = await runCli(['submit', 'synthetic', '--payload', '{"steps":3}', '--watch', '--json'], env);
    expect(out.code).toBe(EXIT.ok);
    const job = JSON.parse(out.stdout) as { id: string; status: string };
    expect(job.status).toBe('completed');
    expect(job).toEqual(api.jobs.get(job.id));
  });

  it('watch resumes a dropped event stream with Last-Event-ID', async () => {
    await api.stop();
    api = await new FakeApi({ dropFirstStreamAfter: 3 }).start();
    const job = api.addJob({ payload: { steps: 6 } });
    const out = await runCli(['watch', job.id], { SWITCHYARD_URL: api.url });
    expect(out.code).toBe(EXIT.ok);
    const streams = api.requests.filter((r) => r.url.endsWith('/events'));
    expect(streams).toHaveLength(2);
    expect(streams[1].headers['last-event-id']).toBe('3');
    expect(out.stdout).toMatch(/✔ completed/);
  });

  it('watch of a job that already ended reports it without streaming', async () => {
    const job = api.addJob({ status: 'cancelled' });
    const out = await runCli(['watch', job.id], env);
    expect(out.code).toBe(EXIT.jobCancelled);
    expect(out.stderr).toContain(`cancelled ${job.id}`);
    expect(api.requests.some((r) => r.url.endsWith('/events'))).toBe(false);
  });

  it('prints the API error code, message and correlation id', async () => {
    const out = await runCli(['get', 'nope'], env);
    expect(out.code).toBe(EXIT.error);
    expect(out.stderr).toContain('error: not_found: job nope not found (HTTP 404)');
    expect(out.stderr).toContain('correlation id: corr-fake-1');
  });

  it('prints validation details', async () => {
    const out = await runCli(['submit', 'synthetic', '--payload', '{"durationMs":999999}'], env);
    expect(out.code).toBe(EXIT.error);
    expect(out.stderr).toContain('validation_failed: payload does not match the synthetic schema');
    expect(out.stderr).toContain('- /payload/durationMs: must be <= 600000');
  });

  it('prints the error body as JSON with --json', async () => {
    const out = await runCli(['submit', 'nope', '--json'], env);
    expect(out.code).toBe(EXIT.error);
    expect(JSON.parse(out.stderr)).toEqual({
      error: {
        code: 'unknown_job_type',
        message: 'unknown job type "nope"',
        details: [{ field: 'type', message: 'must be one of: synthetic' }],
        correlationId: 'corr-fake-1',
      },
    });
  });

  it('says how to configure a key when the API answers 401 without one', async () => {
    const out = await runCli(['list'], { SWITCHYARD_URL: api.url });
    expect(out.code).toBe(EXIT.error);
    expect(out.stderr).toContain('unauthorized: missing or invalid API key');
    expect(out.stderr).toContain('SWITCHYARD_API_KEY');
  });

  it('cancels, and reports a job that can no longer be cancelled', async () => {
    const job = api.addJob();
    expect((await runCli(['cancel', job.id], env)).stdout).toContain(`cancelled ${job.id}`);
    const again = await runCli(['cancel', job.id], env);
    expect(again.code).toBe(EXIT.error);
    expect(again.stderr).toContain('not_cancellable: job is cancelled');
  });

  it('retries a failed job', async () => {
    const job = api.addJob({ status: 'failed' });
    const out = await runCli(['retry', job.id], env);
    expect(out.code).toBe(EXIT.ok);
    expect(out.stdout).toBe(`re-queued ${job.id} (queued)\n`);
    expect(api.requests[0]).toMatchObject({ method: 'POST', url: `/api/v1/jobs/${job.id}/retry` });
  });

  it('writes the result to a file with -o', async () => {
    const job = api.addJob({ status: 'completed', result: { ok: true, attempt: 2 } });
    const file = join(emptyHome, `${job.id}.json`);
    const out = await runCli(['result', job.id, '-o', file], env);
    expect(out.code).toBe(EXIT.ok);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ ok: true, attempt: 2 });
    const printed = await runCli(['result', job.id], env);
    expect(JSON.parse(printed.stdout)).toEqual({ ok: true, attempt: 2 });
  });

  it('rejects a bad priority as a usage error without calling the API', async () => {
    const out = await runCli(['submit', 'synthetic', '--priority', 'urgent'], env);
    expect(out.code).toBe(EXIT.usage);
    expect(out.stderr).toContain("option '--priority <priority>' argument 'urgent' is invalid");
    expect(api.requests).toHaveLength(0);
  });

  it('names the URL and exits 5 when nothing listens there', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const out = await runCli(['list'], { SWITCHYARD_URL: url });
    expect(out.code).toBe(EXIT.unreachable);
    expect(out.stderr).toContain(
      `connection_failed: cannot reach the Switchyard API at ${url}: ECONNREFUSED`,
    );
    expect(out.stderr).toContain('switchyard doctor');
  });
});
