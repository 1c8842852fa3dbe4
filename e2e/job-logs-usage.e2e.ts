// Job logs and the usage ledger (issue 21): a handler's ctx.log lines are kept per attempt up to
// JOB_LOG_MAX_LINES with the overflow counted, paged in order, private to the job's tenant, live
// on the job's SSE stream and under `switchyard logs --follow`, and purged with their job; usage
// from a provider's `usage` object sums exactly in GET /usage, and a tenant past its monthly
// budget is refused at admission while another, with a budget not used up or none, is not.
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Client } from 'pg';
import { TestApi, TestStack, waitFor } from '@switchyard/testing';
import { REPO_ROOT } from './fixtures/handlers-support';

jest.setTimeout(180000);

const MODULE = 'e2e/fixtures/handlers/logs-usage.handler.js';
const CLI = resolve(REPO_ROOT, 'dist/apps/cli/src/main.js');

interface LogLine {
  attempt: number;
  level: string;
  message: string;
  fields: Record<string, unknown> | null;
  at: string;
}
interface LogPage {
  items: LogLine[];
  nextCursor: string | null;
  tailCursor: string | null;
  dropped: { attempt: number; lines: number }[];
}
interface UsageReport {
  groupBy: string;
  from: string;
  to: string;
  items: { group: string; units: Record<string, number>; attempts: Record<string, number> }[];
}

/** A provider that reports OpenAI-style usage: 7 tokens in, 11 out per call. */
async function startProvider(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () =>
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ output: 'ok', usage: { prompt_tokens: 7, completion_tokens: 11 } })),
    );
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('job logs and the usage ledger', () => {
  let stack: TestStack;
  let admin: TestApi;
  let alpha: TestApi;
  let beta: TestApi;
  let gamma: TestApi;
  let delta: TestApi;
  let alphaKey: string;
  let provider: { url: string; server: Server };
  let db: Client;

  beforeAll(async () => {
    provider = await startProvider();
    stack = await TestStack.create();
    const providersFile = `tmp/${stack.id}/providers.json`;
    await mkdir(resolve(REPO_ROOT, 'tmp', stack.id), { recursive: true });
    await writeFile(
      resolve(REPO_ROOT, providersFile),
      JSON.stringify({
        providers: {
          llm: {
            baseUrl: provider.url,
            operations: { chat: { path: '/v1/chat' } },
            // 7 × 0.001 + 11 × 0.002 = 0.029 USD per job.
            pricing: { tokens_in: 0.001, tokens_out: 0.002 },
          },
        },
      }),
    );
    await stack.start(['gateway', 'progress-tracker']);
    await stack.spawn('worker', { WORKER_HANDLER_MODULES: MODULE, PROVIDERS_FILE: providersFile });
    admin = stack.api();
    const gateway = stack.service('gateway');
    const client = async (tenant: string) => {
      const { key } = await stack.createApiKey(tenant);
      return { key, api: new TestApi(gateway.url, { authorization: `Bearer ${key}` }) };
    };
    const a = await client('alpha');
    alphaKey = a.key;
    alpha = a.api;
    beta = (await client('beta')).api;
    gamma = (await client('gamma')).api;
    delta = (await client('delta')).api;
    db = new Client({ connectionString: stack.db.url });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await stack?.destroy();
    if (provider) {
      provider.server.closeAllConnections();
      await new Promise<void>((done) => provider.server.close(() => done()));
    }
    if (stack) await rm(resolve(REPO_ROOT, 'tmp', stack.id), { recursive: true, force: true });
  });

  const readLogs = async (
    api: TestApi,
    id: string,
    limit: number,
  ): Promise<{ lines: LogLine[]; pages: LogPage[] }> => {
    const pages: LogPage[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
      const response = await api.get<LogPage>(`/jobs/${id}/logs${query}`);
      expect(response.status).toBe(200);
      pages.push(response.body);
      cursor = response.body.nextCursor;
    } while (cursor !== null && pages.length < 100);
    return { lines: pages.flatMap((p) => p.items), pages };
  };

  it('keeps 1,000 of 1,500 lines, counts 500 dropped, pages them in order, and hides them from other tenants', async () => {
    const id = await alpha.submit({ type: 'test.chatty', payload: { lines: 1500 } });
    expect((await alpha.waitForStatus(id, ['completed', 'failed'], 30000)).status).toBe('completed');

    const { lines, pages } = await readLogs(alpha, id, 300);
    expect(pages).toHaveLength(4);
    expect(lines).toHaveLength(1000);
    expect(lines.map((l) => l.message)).toEqual(Array.from({ length: 1000 }, (_, i) => `line ${i + 1}`));
    expect(lines[9]).toMatchObject({ attempt: 1, level: 'warn', fields: { i: 10 } });
    expect(lines[10]).toMatchObject({ attempt: 1, level: 'info', fields: null });
    expect(pages.at(-1)?.dropped).toEqual([{ attempt: 1, lines: 500 }]);

    // The tail cursor returns nothing new for a finished job.
    const tail = await alpha.get<LogPage>(`/jobs/${id}/logs?cursor=${pages.at(-1)?.tailCursor}`);
    expect(tail.body.items).toEqual([]);

    expect((await beta.get(`/jobs/${id}/logs`)).status).toBe(404);
    expect((await admin.get(`/jobs/${id}/logs?limit=1`)).status).toBe(200);
    const bad = await alpha.get<{ error: { code: string } }>(`/jobs/${id}/logs?cursor=not-a-cursor`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('validation_failed');
    expect((await alpha.get(`/jobs/${id}/logs?limit=0`)).status).toBe(400);
  });

  it('streams lines while the job runs: `switchyard logs --follow` and `log` events on the job stream', async () => {
    const id = await alpha.submit({ type: 'test.slow-logger', payload: { lines: 8, everyMs: 400 } });
    const stream = await fetch(`${stack.service('gateway').url}/api/v1/jobs/${id}/events`, {
      headers: { authorization: `Bearer ${alphaKey}` },
    });
    const sse = stream.text();

    const follower = spawn(process.execPath, [CLI, 'logs', id, '--follow'], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: '/nonexistent',
        SWITCHYARD_URL: stack.service('gateway').url,
        SWITCHYARD_API_KEY: alphaKey,
      },
    });
    let output = '';
    follower.stdout.on('data', (c: Buffer) => (output += c.toString()));
    follower.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((done) => follower.once('exit', done));

    // A line is printed while the job is still running.
    await waitFor(() => output.includes('tick 1'), { timeoutMs: 20000, what: 'the first followed line' });
    const during = await alpha.job(id);
    expect(['queued', 'running']).toContain(during.status);

    expect(await exited).toBe(0);
    const ticks = [...output.matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
    expect(ticks).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect((await alpha.job(id)).status).toBe('completed');

    const events = await sse;
    const logEvents = [...events.matchAll(/event: log\ndata: (.*)\n/g)].map(
      (m) => JSON.parse(m[1] ?? '{}') as { jobId: string; lines: LogLine[] },
    );
    const streamed = logEvents.flatMap((e) => e.lines.map((l) => l.message));
    expect(logEvents.every((e) => e.jobId === id)).toBe(true);
    // Every line written after the stream opened, in order (the first may precede the stream).
    expect(streamed.length).toBeGreaterThanOrEqual(6);
    expect(streamed).toEqual(
      streamed.slice().sort((a, b) => Number(a.split(' ')[1]) - Number(b.split(' ')[1])),
    );
    expect(streamed.at(-1)).toBe('tick 8');
    expect(events.indexOf('event: log')).toBeLessThan(events.indexOf('event: job.completed'));
  });

  it('sums provider-reported tokens exactly over 100 jobs in GET /usage', async () => {
    const batch = await alpha.post<{ jobs: { id: string }[] }>('/jobs/batch', {
      jobs: Array.from({ length: 100 }, () => ({
        type: 'provider.generate',
        payload: { provider: 'llm', operation: 'chat' },
        dedupe: false,
      })),
    });
    expect(batch.status).toBe(202);
    const ids = batch.body.jobs.map((item) => item.id);
    expect(ids).toHaveLength(100);
    for (const id of ids)
      expect((await alpha.waitForStatus(id, ['completed', 'failed'], 60000)).status).toBe('completed');

    const report = await waitFor(
      async () => {
        const r = await alpha.get<UsageReport>('/usage?groupBy=tenant');
        const row = r.body.items.find((i) => i.group === 'alpha');
        return row?.units['tokens_in'] === 700 ? r.body : undefined;
      },
      { timeoutMs: 15000, what: 'the ledger to hold 100 jobs of tokens' },
    );
    const alphaRow = report.items.find((i) => i.group === 'alpha')!;
    expect(report.items.map((i) => i.group)).toEqual(['alpha']); // a tenant key sees its own tenant
    expect(alphaRow.units['tokens_in']).toBe(700);
    expect(alphaRow.units['tokens_out']).toBe(1100);
    expect(alphaRow.units['requests']).toBe(100 + 8); // provider requests + the slow logger's ticks
    expect(alphaRow.units['cost_usd']).toBeCloseTo(2.9, 9);
    expect(alphaRow.attempts['tokens_in']).toBe(100);
    expect(alphaRow.units['cpu_seconds']).toBeGreaterThan(0);
    expect(alphaRow.units['wall_seconds']).toBeGreaterThan(0);

    const byType = await admin.get<UsageReport>('/usage?groupBy=type');
    expect(byType.body.items.find((i) => i.group === 'provider.generate')?.units['tokens_out']).toBe(1100);
    const today = new Date().toISOString().slice(0, 10);
    const byDay = await alpha.get<UsageReport>(`/usage?groupBy=day&from=${today}&to=${today}`);
    expect(byDay.body.items.map((i) => i.group)).toEqual([today]);
    const yesterday = new Date(Date.now() - 86400000).toISOString().slice(0, 10);
    const monthAgo = new Date(Date.now() - 30 * 86400000).toISOString().slice(0, 10);
    const before = await alpha.get<UsageReport>(`/usage?groupBy=day&from=${monthAgo}&to=${yesterday}`);
    expect(before.body.items).toEqual([]);
    expect((await alpha.get('/usage?groupBy=queue')).status).toBe(400);
    expect((await alpha.get('/usage?from=yesterday')).status).toBe(400);
    expect((await alpha.get('/usage?from=2020-01-01&to=2022-01-01')).status).toBe(400);

    const metrics = await (await fetch(`${stack.extra[0]?.url}/metrics`)).text();
    expect(metrics).toMatch(/^switchyard_usage_total\{tenant="alpha",unit="tokens_in"[^}]*\} 700$/m);
  });

  it('refuses a tenant past its monthly budget with 429 budget_exhausted; other tenants, with a budget not used up or none, are unaffected', async () => {
    type Budgets = { budgets: Record<string, { perMonth: number; used: number; resetsAt: string }> };
    const setBudget = async (tenant: string, perMonth: number) => {
      const set = await admin.request<Budgets & { tenant: string }>('PUT', `/admin/tenants/${tenant}`, {
        budgets: { cost_usd: { perMonth } },
      });
      expect(set.status).toBe(200);
      expect(set.body.budgets['cost_usd']).toMatchObject({ perMonth, used: 0 });
      return set.body.budgets['cost_usd']?.resetsAt ?? '';
    };
    // Three jobs at 0.029 each (0.087): past gamma's 0.08, within delta's 0.10.
    const resetsAt = await setBudget('gamma', 0.08);
    expect(new Date(resetsAt).getUTCDate()).toBe(1);
    await setBudget('delta', 0.1);
    const spend = async (api: TestApi) => {
      for (let i = 0; i < 3; i++) {
        const id = await api.submit({
          type: 'provider.generate',
          payload: { provider: 'llm', operation: 'chat' },
        });
        expect((await api.waitForStatus(id, ['completed', 'failed'], 30000)).status).toBe('completed');
      }
    };
    const usedBy = async (tenant: string) =>
      (await admin.get<Budgets>(`/admin/tenants/${tenant}`)).body.budgets['cost_usd']?.used ?? 0;
    // delta spends first and its use is in the ledger before gamma's, so the budget refresh that
    // refuses gamma has read delta's use too.
    await spend(delta);
    await waitFor(async () => Math.abs((await usedBy('delta')) - 0.087) < 1e-9, {
      timeoutMs: 15000,
      what: 'delta’s three jobs in the ledger',
    });
    await spend(gamma);
    const refused = await waitFor(
      async () => {
        // Probed with a job that costs nothing, so what gamma used stays what the three cost.
        const r = await gamma.post<{ error: { code: string; message: string } }>('/jobs', {
          type: 'test.chatty',
          payload: { lines: 0 },
          dedupe: false,
        });
        return r.status === 429 ? r : undefined;
      },
      { timeoutMs: 20000, intervalMs: 250, what: 'gamma refused past its budget' },
    );
    expect(refused.body.error.code).toBe('budget_exhausted');
    expect(refused.body.error.message).toContain(resetsAt);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);

    expect(await usedBy('gamma')).toBeCloseTo(0.087, 9);
    // delta used as much as gamma, under a budget it has not used up: still admitted.
    const deltaBudget = (await admin.get<Budgets>('/admin/tenants/delta')).body.budgets['cost_usd'];
    expect(deltaBudget).toMatchObject({ perMonth: 0.1 });
    expect(deltaBudget?.used).toBeCloseTo(0.087, 9);
    const admitted = await delta.post<{ id: string }>('/jobs', {
      type: 'test.chatty',
      payload: { lines: 0 },
      dedupe: false,
    });
    expect(admitted.status).toBe(202);
    // ...while gamma, on the same gateway at the same moment, is still refused.
    const again = await gamma.post<{ error: { code: string } }>('/jobs', {
      type: 'test.chatty',
      payload: { lines: 0 },
      dedupe: false,
    });
    expect([again.status, again.body.error?.code]).toEqual([429, 'budget_exhausted']);
    // beta has no budget; alpha used far more than gamma but has none either.
    await beta.submit({ type: 'test.chatty', payload: { lines: 0 } });
    await alpha.submit({ type: 'test.chatty', payload: { lines: 0 } });

    // Removing the budget lets gamma submit again at once on this gateway.
    expect((await admin.request('PUT', '/admin/tenants/gamma', { budgets: { cost_usd: null } })).status).toBe(
      200,
    );
    await gamma.submit({ type: 'test.chatty', payload: { lines: 0 } });

    expect((await gamma.request('PUT', '/admin/tenants/gamma', { budgets: {} })).status).toBe(403);
    const invalid = await admin.request<{ error: { code: string } }>('PUT', '/admin/tenants/gamma', {
      budgets: { 'Cost-USD': { perMonth: -1 } },
    });
    expect(invalid.status).toBe(400);
  });

  it('purges a job’s lines with the job, and keeps its usage in the ledger', async () => {
    const id = await alpha.submit({ type: 'test.chatty', payload: { lines: 5 } });
    await alpha.waitForStatus(id, 'completed', 30000);
    const count = async () =>
      Number(
        (await db.query<{ n: string }>('SELECT count(*) AS n FROM job_logs WHERE job_id = $1', [id])).rows[0]
          ?.n,
      );
    expect(await count()).toBe(5);
    const cleanup = await admin.post<{ deleted: number }>('/admin/cleanup', { olderThanDays: 0 });
    expect(cleanup.status).toBe(200);
    expect(cleanup.body.deleted).toBeGreaterThan(0);
    expect(await count()).toBe(0);
    expect((await alpha.get(`/jobs/${id}/logs`)).status).toBe(404);
    // The 100 provider jobs were purged too; what they used stays in the ledger.
    const tokens = await alpha.get<UsageReport>('/usage?groupBy=type');
    expect(tokens.body.items.find((i) => i.group === 'provider.generate')?.units['tokens_in']).toBe(700);
  });
});
