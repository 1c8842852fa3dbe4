// provider.generate against a fake provider this test serves (SPEC §6, §7, issue 7): artifacts
// from plain and polled operations, retry classification (400, 429 + Retry-After holds, timeouts), and
// a circuit that opens on repeated 500s, is visible in /health/ready and /metrics, makes waiting
// jobs spend no attempts, and lets them complete once the provider is back and it half-opens.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  freePort,
  runServiceToExit,
  TestStack,
  waitFor,
  type ServiceProcess,
  type TestApi,
  type TestJob,
} from '@switchyard/testing';
import { adminApi, readArtifact, REPO_ROOT } from './fixtures/handlers-support';

jest.setTimeout(180000);

const at = (iso: string | null | undefined) => (iso ? new Date(iso).getTime() : NaN);
const SECRET = `sk-${randomBytes(8).toString('hex')}`;

interface Received {
  path: string;
  at: number;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A scriptable provider: each route answers from the current `mode` and counts its requests. */
class FakeProvider {
  readonly received: Received[] = [];
  flakyUp = false;
  readonly speech = randomBytes(4096);
  private polls = 0;
  private limitedCalls = 0;
  private server!: Server;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        this.received.push({ path: req.url ?? '', at: Date.now(), headers: req.headers, body });
        this.answer(req.url ?? '', res);
      });
    });
    await new Promise<void>((done) => this.server.listen(0, '127.0.0.1', done));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  count(path: string): number {
    return this.received.filter((r) => r.path === path).length;
  }

  private answer(path: string, res: ServerResponse): void {
    const json = (status: number, value: unknown, headers: Record<string, string> = {}) =>
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(value));
    switch (path) {
      case '/v1/speak':
        res.writeHead(200, { 'content-type': 'audio/mpeg' }).end(this.speech);
        return;
      case '/v1/compose':
        json(202, { id: 'job-42', status: 'queued' });
        return;
      case '/v1/jobs/job-42':
        this.polls += 1;
        if (this.polls < 3) json(200, { id: 'job-42', status: 'running' });
        else json(200, { id: 'job-42', status: 'succeeded', output: { notes: ['c', 'e', 'g'], bpm: 96 } });
        return;
      case '/v1/reject':
        json(400, { error: 'prompt refused' });
        return;
      case '/v1/limited':
        this.limitedCalls += 1;
        if (this.limitedCalls === 1) json(429, { error: 'slow down' }, { 'retry-after': '3' });
        else json(200, { ok: true });
        return;
      case '/v1/slow':
        setTimeout(() => json(200, { late: true }), 3000).unref();
        return;
      case '/v1/flaky':
        if (this.flakyUp) res.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.from('png-bytes'));
        else json(500, { error: 'internal' });
        return;
      default:
        json(404, { error: 'no such route' });
    }
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((done) => this.server.close(() => done()));
  }
}

describe('provider.generate', () => {
  let stack: TestStack;
  let api: TestApi;
  let worker: ServiceProcess;
  let provider: FakeProvider;
  let providersFile: string;

  const submit = (payload: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    api.submit({ type: 'provider.generate', payload, dedupe: false, ...extra });

  const workerEnv = () => ({ PROVIDERS_FILE: providersFile, FAKE_PROVIDER_KEY: SECRET });
  const ready = async () => {
    const response = await fetch(`${worker.url}/health/ready`);
    return {
      status: response.status,
      body: (await response.json()) as {
        checks: { circuits: { providers: Record<string, string>; open: string[] } };
      },
    };
  };
  const circuitMetric = async (name: string) => {
    const text = await (await fetch(`${worker.url}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith('switchyard_circuit_state{') && l.includes(`provider="${name}"`));
    return line === undefined ? undefined : Number(line.split(' ').pop());
  };

  beforeAll(async () => {
    provider = new FakeProvider();
    const baseUrl = await provider.start();
    stack = await TestStack.create();
    providersFile = `tmp/${stack.id}/providers.json`;
    await mkdir(resolve(REPO_ROOT, 'tmp', stack.id), { recursive: true });
    await writeFile(
      resolve(REPO_ROOT, providersFile),
      JSON.stringify({
        providers: {
          studio: {
            baseUrl,
            auth: { header: 'Authorization', secretEnv: 'FAKE_PROVIDER_KEY', scheme: 'Bearer' },
            timeoutMs: 5000,
            operations: {
              speak: { path: '/v1/speak' },
              compose: {
                path: '/v1/compose',
                poll: {
                  statusPath: '/v1/jobs/{id}',
                  intervalMs: 100,
                  doneField: 'status',
                  doneValue: 'succeeded',
                  errorField: 'error',
                  resultField: 'output',
                },
              },
              reject: { path: '/v1/reject' },
              limited: { path: '/v1/limited' },
            },
          },
          sluggish: { baseUrl, timeoutMs: 300, operations: { slow: { path: '/v1/slow' } } },
          flaky: {
            baseUrl,
            timeoutMs: 2000,
            breaker: {
              failureThreshold: 50,
              volumeThreshold: 3,
              rollingWindowMs: 60000,
              resetTimeoutMs: 6000,
            },
            operations: { render: { path: '/v1/flaky' } },
          },
        },
      }),
    );
    await stack.start(['gateway', 'progress-tracker']);
    worker = await stack.spawn('worker', workerEnv());
    api = adminApi(stack);
  });

  afterAll(async () => {
    await stack?.destroy();
    await provider?.stop();
    if (stack) await rm(resolve(REPO_ROOT, 'tmp', stack.id), { recursive: true, force: true });
  });

  it('stores what the provider answers as the artifact, with its content type and the secret sent', async () => {
    const id = await submit({ provider: 'studio', operation: 'speak', input: { text: 'hello' } });
    const job = await api.waitForStatus(id, 'completed', 20000);
    const artifact = await readArtifact(stack, id);
    expect(artifact.contentType).toBe('audio/mpeg');
    expect(artifact.bytes.equals(provider.speech)).toBe(true);
    expect(job.result).toMatchObject({ provider: 'studio', operation: 'speak', bytes: 4096 });
    const request = provider.received.find((r) => r.path === '/v1/speak');
    expect(request?.headers['authorization']).toBe(`Bearer ${SECRET}`);
    expect(JSON.parse(request?.body ?? '{}')).toEqual({ text: 'hello' });
  });

  it('polls a provider that answers with a job until it is done and stores its result', async () => {
    const id = await submit({ provider: 'studio', operation: 'compose', input: { prompt: 'a tune' } });
    const job = await api.waitForStatus(id, 'completed', 20000);
    expect(provider.count('/v1/jobs/job-42')).toBe(3);
    expect(job.result).toMatchObject({ providerJobId: 'job-42', contentType: 'application/json' });
    const artifact = await readArtifact(stack, id);
    expect(JSON.parse(artifact.bytes.toString('utf8'))).toEqual({ notes: ['c', 'e', 'g'], bpm: 96 });
  });

  it('fails a 400 at once without retrying; an unknown provider is invalid_payload', async () => {
    const rejected = await api.waitForStatus(
      await submit({ provider: 'studio', operation: 'reject', input: {} }, { maxAttempts: 5 }),
      'failed',
      20000,
    );
    expect(rejected).toMatchObject({ attempts: 1, error: { code: 'provider_rejected', retryable: false } });
    expect(rejected.error?.message).toContain('prompt refused');
    expect(provider.count('/v1/reject')).toBe(1);
    const unknown = await api.waitForStatus(
      await submit({ provider: 'nobody', operation: 'speak', input: {} }),
      'failed',
      20000,
    );
    expect(unknown).toMatchObject({ attempts: 1, error: { code: 'invalid_payload', retryable: false } });
  });

  it('waits as long as a 429 Retry-After says before the next attempt, which the 429 did not spend', async () => {
    const id = await submit({ provider: 'studio', operation: 'limited', input: {} }, { maxAttempts: 3 });
    const job = await api.waitForStatus(id, 'completed', 30000);
    // The 429 held the rate key provider:studio and handed the job back (provider rate budgets).
    expect(job.attempts).toBe(1);
    const calls = provider.received.filter((r) => r.path === '/v1/limited').map((r) => r.at);
    expect(calls).toHaveLength(2);
    // Retry-After: 3 s, where the backoff alone would have waited 1 s ± 10 %.
    expect(calls[1] - calls[0]).toBeGreaterThanOrEqual(2900);
    expect(calls[1] - calls[0]).toBeLessThan(6000);
  });

  it('retries a request that outlives the provider timeout as provider_timeout', async () => {
    const job = await api.waitForStatus(
      await submit({ provider: 'sluggish', operation: 'slow', input: {} }, { maxAttempts: 1 }),
      'failed',
      20000,
    );
    expect(job.error).toMatchObject({ code: 'provider_timeout', retryable: true });
    expect(at(job.finishedAt) - at(job.startedAt)).toBeLessThan(2000);
  });

  it('opens the circuit on repeated 500s, parks jobs without spending attempts, and completes them once the provider is back', async () => {
    const render = { provider: 'flaky', operation: 'render', input: {} };
    expect(await circuitMetric('flaky')).toBe(0);
    const early = await Promise.all([1, 2, 3].map(() => submit(render, { maxAttempts: 10 })));
    await waitFor(async () => (await ready()).body.checks.circuits.providers['flaky'] === 'open', {
      timeoutMs: 20000,
      what: 'the flaky circuit to open',
    });
    const openReport = await ready();
    expect(openReport.status).toBe(200);
    expect(openReport.body.checks.circuits.open).toEqual(['flaky']);
    expect(openReport.body.checks.circuits.providers['studio']).toBe('closed');
    expect(await circuitMetric('flaky')).toBe(2);
    const callsWhileDown = provider.count('/v1/flaky');

    // One attempt allowed: a deferral that spent it would fail these jobs.
    const parked = await Promise.all([1, 2, 3].map(() => submit(render, { maxAttempts: 1 })));
    const waiting = await Promise.all(
      parked.map((id) => api.waitForJob(id, (j) => j.status === 'retrying', 10000)),
    );
    for (const job of waiting) {
      expect(job).toMatchObject({ attempts: 0, error: { code: 'provider_unavailable', retryable: true } });
      expect(at(job.nextAttemptAt)).toBeGreaterThan(Date.now());
    }
    expect(provider.count('/v1/flaky')).toBe(callsWhileDown);
    provider.flakyUp = true;

    const done = await Promise.all(
      [...early, ...parked].map((id) => api.waitForStatus(id, 'completed', 60000)),
    );
    for (const job of done.slice(3)) expect(job.attempts).toBe(1);
    // Every attempt of every job is one request the provider saw: waiting spent none.
    const attempts = done.reduce((sum, job: TestJob) => sum + job.attempts, 0);
    expect(attempts).toBe(provider.count('/v1/flaky'));
    for (const job of done.slice(0, 3)) expect(job.attempts).toBeGreaterThanOrEqual(2);

    expect((await ready()).body.checks.circuits.providers['flaky']).toBe('closed');
    expect(await circuitMetric('flaky')).toBe(0);
    const states = worker
      .logs()
      .filter((l) => l['provider'] === 'flaky' && typeof l['state'] === 'string')
      .map((l) => l['state']);
    expect(states).toEqual(['open', 'half-open', 'closed']);
  });

  it('refuses to start when a provider names a secret that is not set', async () => {
    const { code, output } = await runServiceToExit('worker', {
      ...stack.env,
      WORKER_PORT: String(await freePort()),
      PROVIDERS_FILE: providersFile,
    });
    expect(code).not.toBe(0);
    expect(output).toContain('FAKE_PROVIDER_KEY');
  });
});
