// The web console (issue 20) in Debian's Chromium (playwright-core) against the real services: sign-in
// with a key for a session cookie, live jobs and job detail over SSE through the cookie, the WAV
// player and download, cancel and the read-only view, dead-letter groups and bulk replay, CSRF and
// revocation, then axe-core on every page with the screenshots of docs/console.md.
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { Webhook } from 'standardwebhooks';
import { TestStack, waitFor, type TestApi } from '@switchyard/testing';

jest.setTimeout(240000);

const CHROMIUM = '/usr/bin/chromium';
const TRACE_UI = 'http://traces.example/trace/{traceId}';
// docs/console.md shows the screenshots: `UPDATE_CONSOLE_SCREENSHOTS=1` writes them there, other
// runs under tmp/ (so that `npm test` leaves the tree clean).
const SCREENSHOTS = process.env['UPDATE_CONSOLE_SCREENSHOTS']
  ? join(__dirname, '..', 'docs', 'console')
  : join(__dirname, '..', 'tmp', 'console-screenshots');
const CONSOLE_DIST = join(__dirname, '..', 'dist', 'apps', 'console');
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

interface Signed {
  context: BrowserContext;
  page: Page;
  /** Authorization headers seen on /api/v1 requests (there must be none). */
  authorizations: string[];
  /** Uncaught page errors and console errors (a failed request logs one too). */
  errors: string[];
}

describe('web console', () => {
  let stack: TestStack;
  let browser: Browser;
  let writer: { id: string; key: string };
  let reader: { id: string; key: string };
  let api: TestApi;
  let audioJob: string;
  const contexts: BrowserContext[] = [];
  let spanSink: Server;

  beforeAll(async () => {
    // Spans go to a sink of the test's own, so jobs carry a trace id the job page links to.
    spanSink = createServer((request, response) => {
      request.resume();
      request.on('end', () => response.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    });
    await new Promise<void>((resolve) => spanSink.listen(0, '127.0.0.1', resolve));
    stack = await TestStack.create({
      // The webhooks page's endpoint is this test's own receiver on 127.0.0.1.
      WEBHOOK_ALLOW_PRIVATE: 'true',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(spanSink.address() as AddressInfo).port}`,
      TRACE_UI_URL: TRACE_UI,
      // Every browser context of this file signs in from 127.0.0.1: the per-IP limit for
      // unauthenticated calls (GET /session before sign-in) is raised so that they never meet it.
      RATE_LIMIT_ANON_PER_MIN: '6000',
    });
    await stack.start();
    writer = await stack.createApiKey('console');
    reader = await stack.createApiKey('console', ['jobs:read']);
    api = stack.api(writer.key);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--autoplay-policy=no-user-gesture-required',
      ],
    });
  });

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await stack?.destroy();
    await new Promise((resolve) => spanSink?.close(resolve));
  });

  const gateway = () => stack.service('gateway').url;

  async function open(): Promise<Signed> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    contexts.push(context);
    const page = await context.newPage();
    const signed: Signed = { context, page, authorizations: [], errors: [] };
    page.on('request', (request) => {
      const authorization = request.headers()['authorization'];
      if (request.url().includes('/api/v1/') && authorization) signed.authorizations.push(authorization);
    });
    page.on('pageerror', (error) => signed.errors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') signed.errors.push(`${message.text()} (${message.location().url})`);
    });
    return signed;
  }

  async function signIn(key: string): Promise<Signed> {
    const signed = await open();
    await signed.page.goto(`${gateway()}/ui/`);
    await signed.page.getByLabel('API key').fill(key);
    await signed.page.getByRole('button', { name: 'Sign in' }).click();
    await signed.page.getByRole('navigation', { name: 'Console' }).waitFor();
    return signed;
  }

  const statusOf = (page: Page) => page.locator('dd .status').first();

  it('signs in with a key; a submitted job appears live and its page follows it to 100 % over SSE', async () => {
    const { page, authorizations, errors } = await signIn(writer.key);
    const cookies = await page.context().cookies(`${gateway()}/api/v1/`);
    expect(cookies.find((c) => c.name === 'switchyard_session')).toMatchObject({
      httpOnly: true,
      sameSite: 'Strict',
    });
    await page.getByRole('link', { name: 'Jobs' }).click();
    await page.locator('table.jobs').waitFor();
    // A marker on the window: gone if the page reloads.
    await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 1));
    const id = await api.submit({ type: 'synthetic', payload: { durationMs: 6000, steps: 12 } });
    const row = page.locator(`tr[data-job="${id}"]`);
    await row.waitFor({ timeout: 20000 });
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(1);

    const streams: string[] = [];
    page.on('request', (r) => r.resourceType() === 'eventsource' && streams.push(new URL(r.url()).pathname));
    await row.getByRole('link').click();
    await page.waitForURL(`**/ui/jobs/${id}`);
    const bar = page.getByRole('progressbar', { name: 'job progress' });
    const seen: number[] = [];
    await waitFor(
      async () => {
        const value = Number(await bar.getAttribute('aria-valuenow'));
        if (seen.at(-1) !== value) seen.push(value);
        return value === 100 && (await statusOf(page).textContent()) === 'completed';
      },
      { timeoutMs: 30000, intervalMs: 50, what: 'the detail page to show the job completed' },
    );
    expect(seen.some((v) => v > 0 && v < 100)).toBe(true);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(streams).toContain(`/api/v1/jobs/${id}/events`);
    expect(authorizations).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('filters jobs by metadata key=value and by idempotency key, with the filters in a shareable URL', async () => {
    const run = randomUUID();
    const quick = { type: 'synthetic', payload: { durationMs: 0 } };
    const tagged = await api.submit({ ...quick, metadata: { run, stage: 'render' } });
    await api.submit({ ...quick, metadata: { run, stage: 'mix' } });
    const keyed = await api.submit({ ...quick, idempotencyKey: `console-${run}` });
    const { page, errors } = await signIn(writer.key);
    await page.getByRole('link', { name: 'Jobs' }).click();
    await page.getByLabel('Metadata').fill('stage=render');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/metadata=stage%3Drender/);
    const rows = page.locator('table.jobs tbody tr');
    const shown = () =>
      rows.evaluateAll((trs) => trs.map((tr) => (tr as unknown as { dataset: { job: string } }).dataset.job));
    // The unfiltered page stays on screen until the filtered one answers: wait for that answer.
    await waitFor(async () => (await shown()).join() === tagged, {
      timeoutMs: 10000,
      what: 'the filtered page',
    }).catch(() => undefined);
    expect(await shown()).toEqual([tagged]);
    // The same filter from a shared URL; then the idempotency key.
    await page.goto(`${gateway()}/ui/jobs?idempotencyKey=${encodeURIComponent(`console-${run}`)}`);
    await page.locator(`tr[data-job="${keyed}"]`).waitFor();
    expect(await rows.count()).toBe(1);
    expect(errors).toEqual([]);
  });

  it('links a traced job to its trace in the configured trace UI', async () => {
    const id = await api.submit({ type: 'synthetic', payload: { durationMs: 0 } });
    const { traceId } = (await api.waitForJob(id, (job) => job.status === 'completed')) as unknown as {
      traceId?: string;
    };
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    const { page, errors } = await signIn(writer.key);
    await page.goto(`${gateway()}/ui/jobs/${id}`);
    const link = page.getByRole('link', { name: traceId });
    await expect(link.getAttribute('href')).resolves.toBe(TRACE_UI.replace('{traceId}', traceId!));
    expect(errors).toEqual([]);
  });

  it('plays an audio.generate WAV of the requested length and downloads its exact bytes', async () => {
    audioJob = await api.submit({
      type: 'audio.generate',
      payload: { prompt: 'a console bell', durationSec: 3 },
    });
    await api.waitForStatus(audioJob, 'completed', 60000);
    const stored = new Uint8Array(
      await (
        await fetch(`${gateway()}/api/v1/jobs/${audioJob}/result`, { headers: { 'x-api-key': writer.key } })
      ).arrayBuffer(),
    );
    const { page } = await signIn(writer.key);
    await page.goto(`${gateway()}/ui/jobs/${audioJob}`);
    const audio = page.locator('audio');
    await audio.waitFor();
    const played = await audio.evaluate(async (node) => {
      const element = node as unknown as AudioLike;
      if (element.readyState < 1) {
        await new Promise((resolve, reject) => {
          element.addEventListener('loadedmetadata', resolve, { once: true });
          element.addEventListener('error', () => reject(new Error(`audio error ${element.error?.code}`)));
        });
      }
      element.muted = true;
      await element.play();
      await new Promise((resolve) => element.addEventListener('timeupdate', resolve, { once: true }));
      return { duration: element.duration, playing: !element.paused };
    });
    expect(played.duration).toBeCloseTo(3, 1);
    expect(played.playing).toBe(true);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download result' }).click(),
    ]);
    const bytes = readFileSync(await download.path());
    expect(sha256(bytes)).toBe(sha256(stored));
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('RIFF');
  });

  it('cancels a running job from its page; a read-only key sees no cancel button and its forged POST is 403', async () => {
    const id = await api.submit({ type: 'synthetic', payload: { durationMs: 60000, steps: 60 } });
    const other = await api.submit({ type: 'synthetic', payload: { durationMs: 60000, steps: 60 } });
    await api.waitForStatus(id, 'running');
    const { page } = await signIn(writer.key);
    await page.goto(`${gateway()}/ui/jobs/${id}`);
    await page.getByRole('button', { name: 'Cancel job' }).click();
    await waitFor(async () => (await statusOf(page).textContent()) === 'cancelled', {
      timeoutMs: 20000,
      what: 'the page to show cancelled',
    });
    expect((await api.job(id)).status).toBe('cancelled');

    const readOnly = await signIn(reader.key);
    await readOnly.page.goto(`${gateway()}/ui/jobs/${other}`);
    await statusOf(readOnly.page).waitFor();
    await readOnly.page.getByRole('heading', { name: 'Progress' }).waitFor();
    expect(await readOnly.page.getByRole('button', { name: 'Cancel job' }).count()).toBe(0);
    const forged = await readOnly.page.evaluate(async (jobId) => {
      const response = await fetch(`/api/v1/jobs/${jobId}/cancel`, {
        method: 'POST',
        headers: { 'x-switchyard-csrf': '1' },
      });
      return { status: response.status, body: (await response.json()) as { error: { code: string } } };
    }, other);
    expect(forged).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    expect((await api.job(other)).status).toBe('running');
    await api.post(`/jobs/${other}/cancel`);
  });

  it('groups 30 dead letters of two error codes; bulk replay of one group puts exactly those back to work', async () => {
    const key = await stack.createApiKey('console-dlq');
    const dlqApi = stack.api(key.key);
    const submitMany = async (count: number, fail: string) => {
      const response = await dlqApi.post<{ jobs: { id: string }[] }>('/jobs/batch', {
        jobs: Array.from({ length: count }, (_, i) => ({
          type: 'synthetic',
          payload: { durationMs: 0, fail, steps: i % 2 },
          maxAttempts: 1,
          dedupe: false,
        })),
      });
      expect(response.status).toBe(202);
      return response.body.jobs.map((j) => j.id);
    };
    const permanent = await submitMany(18, 'permanent');
    const retryable = await submitMany(12, 'retryable');
    await Promise.all([...permanent, ...retryable].map((id) => dlqApi.waitForStatus(id, 'failed', 60000)));

    const { page } = await signIn(key.key);
    await page.getByRole('link', { name: 'Dead letters' }).click();
    const groups = page.locator('tr[data-group]');
    await waitFor(async () => (await groups.count()) === 2, { timeoutMs: 15000, what: 'two groups' });
    const permanentRow = page.locator('tr[data-group="synthetic:permanent_error"]');
    const retryableRow = page.locator('tr[data-group="synthetic:retryable_error"]');
    expect(await permanentRow.locator('.count').textContent()).toBe('18');
    expect(await retryableRow.locator('.count').textContent()).toBe('12');

    await permanentRow.getByRole('button', { name: /Replay group/ }).click();
    const dialog = page.getByRole('dialog');
    expect(await dialog.getByTestId('confirm-count').textContent()).toBe('18');
    await dialog.getByRole('button', { name: 'Replay them' }).click();
    await page.getByText('Replayed 18 jobs').waitFor({ timeout: 20000 });

    const queuedEvents = async (id: string) =>
      (await dlqApi.get<{ history: { event: string }[] }>(`/jobs/${id}`)).body.history.filter(
        (h) => h.event === 'queued',
      ).length;
    for (const id of permanent) expect(await queuedEvents(id)).toBe(2);
    for (const id of retryable) {
      expect(await queuedEvents(id)).toBe(1);
      expect((await dlqApi.job(id)).deadLettered).toBe(true);
    }

    // One job of the other group, discarded on its own: the group counts 11.
    await retryableRow.getByRole('button', { name: /Show jobs/ }).click();
    await page
      .getByRole('button', { name: /^Discard job / })
      .first()
      .click();
    await waitFor(async () => (await retryableRow.locator('.count').textContent()) === '11', {
      timeoutMs: 10000,
      what: 'the group to count 11',
    });
    const remaining = await Promise.all(
      retryable.map(async (id) => (await dlqApi.get(`/jobs/${id}`)).status),
    );
    expect(remaining.filter((status) => status === 404)).toHaveLength(1);
  });

  it('refuses a cross-site form POST with the session cookie, and a revoked key’s session within 5 s', async () => {
    const id = await api.submit({ type: 'synthetic', payload: { durationMs: 60000, steps: 60 } });
    await api.waitForStatus(id, 'running');
    const { page, context } = await signIn(writer.key);
    // Another site (localhost is not 127.0.0.1's site) posting a form at the gateway.
    const attacker: Server = createServer((_request, response) => {
      response.setHeader('content-type', 'text/html');
      response.end(
        `<!doctype html><form method="POST" action="${gateway()}/api/v1/jobs/${id}/cancel"></form>` +
          `<script>document.forms[0].submit()</script>`,
      );
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    try {
      const port = (attacker.address() as AddressInfo).port;
      const answer = page.waitForResponse((r) => r.url().endsWith(`/jobs/${id}/cancel`));
      await page.goto(`http://localhost:${port}/`);
      expect([401, 403]).toContain((await answer).status());
    } finally {
      await new Promise((resolve) => attacker.close(resolve));
    }
    expect((await api.job(id)).status).toBe('running');

    // The cookie itself, replayed without the CSRF header or from another site: 403.
    const cookie = (await context.cookies(`${gateway()}/api/v1/`)).find(
      (c) => c.name === 'switchyard_session',
    );
    expect(cookie).toBeDefined();
    const post = (headers: Record<string, string>) =>
      fetch(`${gateway()}/api/v1/jobs/${id}/cancel`, {
        method: 'POST',
        headers: { cookie: `switchyard_session=${cookie?.value ?? ''}`, ...headers },
      });
    expect((await post({})).status).toBe(403);
    expect((await post({ 'x-switchyard-csrf': '1', 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await api.job(id)).status).toBe('running');
    expect((await post({ 'x-switchyard-csrf': '1' })).status).toBe(202);

    const doomed = await stack.createApiKey('console', ['jobs:read', 'jobs:write'], 'doomed');
    const revoked = await signIn(doomed.key);
    const listStatus = () => revoked.page.evaluate(async () => (await fetch('/api/v1/jobs?limit=1')).status);
    expect(await listStatus()).toBe(200);
    expect((await stack.api().delete(`/admin/api-keys/${doomed.id}`)).status).toBe(204);
    const since = Date.now();
    await waitFor(async () => (await listStatus()) === 401, {
      timeoutMs: 10000,
      what: 'the session to stop',
    });
    expect(Date.now() - since).toBeLessThan(5000);
  });

  it('adds a webhook endpoint with its secret shown once; a finished job’s signed delivery shows in its deliveries', async () => {
    const received: { headers: Record<string, string>; body: string }[] = [];
    const receiver: Server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      request.on('end', () => {
        received.push({ headers: request.headers as Record<string, string>, body });
        response.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      const { page, errors } = await signIn(writer.key);
      await page.getByRole('link', { name: 'Webhooks' }).click();
      await page.getByLabel('URL').fill(url);
      await page.getByLabel('job.cancelled').uncheck();
      await page.getByRole('button', { name: 'Add endpoint' }).click();
      const secret = await page.getByLabel('the signing secret').inputValue();
      expect(secret).toMatch(/^whsec_/);
      const row = page.locator('tbody tr', { hasText: url });
      await expect(row.locator('td').nth(1).textContent()).resolves.toBe('job.completed, job.failed');

      const id = await api.submit({ type: 'synthetic', payload: { durationMs: 0 } });
      await api.waitForStatus(id, 'completed');
      const delivery = await waitFor(() => received.find((r) => r.body.includes(id)), {
        timeoutMs: 30000,
        what: 'the delivery of the finished job',
      });
      // The secret the page showed is the one deliveries are signed with.
      expect(new Webhook(secret).verify(delivery.body, delivery.headers)).toMatchObject({
        type: 'switchyard.job.completed',
        data: { jobId: id },
      });
      await row.getByRole('button', { name: /^Deliveries/ }).click();
      const listed = page.locator('section tbody tr', { hasText: id.slice(0, 8) });
      await listed.locator('.status-succeeded').waitFor({ timeout: 20000 });
      await expect(listed.locator('td').nth(3).textContent()).resolves.toBe('1');
      expect(errors).toEqual([]);
    } finally {
      await new Promise((resolve) => receiver.close(resolve));
    }
  });

  it('shows concurrency limits on the Queues page and sets a tenant’s fair-share weight in Settings', async () => {
    const admin = stack.api();
    expect((await admin.request('PUT', '/limits/concurrency/gpu-console', { max: 2 })).status).toBe(200);
    const { page, errors } = await signIn(stack.adminKey);
    await page.getByRole('link', { name: 'Queues' }).click();
    const limit = page.locator('tbody tr', { hasText: 'gpu-console' });
    await expect(limit.locator('td').nth(1).textContent()).resolves.toBe('2');

    await page.getByRole('link', { name: 'Settings' }).click();
    const lookUp = page.getByRole('form', { name: 'Look up a tenant' });
    await lookUp.getByLabel('Tenant').fill('console');
    await lookUp.getByRole('button', { name: 'Show settings' }).click();
    await page.getByRole('spinbutton', { name: 'Weight of console' }).fill('3');
    await page.getByRole('button', { name: 'Save weight' }).click();
    await waitFor(
      async () => (await admin.get<{ weight: number }>('/admin/tenants/console')).body.weight === 3,
      { timeoutMs: 10000, what: 'the weight saved' },
    );
    expect(errors).toEqual([]);
  });

  it('has no serious or critical axe-core violation on any page, and screenshots of each', async () => {
    const admin = stack.api();
    const schedule = await admin.post<{ id: string }>('/schedules', {
      name: 'nightly-report',
      everyMs: 3600000,
      job: { type: 'synthetic', payload: { durationMs: 0 } },
    });
    expect(schedule.status).toBe(201);
    const quick = { type: 'synthetic', payload: { durationMs: 200 } };
    const flow = await admin.post<{ id: string }>('/flows', {
      name: 'render-pipeline',
      jobs: [
        { ref: 'fetch', ...quick },
        { ref: 'analyse', ...quick, dependsOn: ['fetch'] },
        { ref: 'render', ...quick, dependsOn: ['fetch'] },
        { ref: 'publish', ...quick, dependsOn: ['analyse', 'render'] },
      ],
    });
    expect([200, 202]).toContain(flow.status);
    mkdirSync(SCREENSHOTS, { recursive: true });
    const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

    async function check(page: Page, name: string): Promise<void> {
      await page.addScriptTag({ content: axeSource });
      const violations = await page.evaluate(async () => {
        const { axe, document } = globalThis as unknown as {
          axe: { run: (context: unknown) => Promise<AxeResults> };
          document: unknown;
        };
        const results = await axe.run(document);
        return results.violations
          .filter((v) => v.impact === 'serious' || v.impact === 'critical')
          .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
      });
      expect({ page: name, violations }).toEqual({ page: name, violations: [] });
      await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
    }

    // Cold load of the sign-in page in a fresh context (no cache).
    const cold = await open();
    const started = Date.now();
    await cold.page.goto(`${gateway()}/ui/`);
    await cold.page.getByLabel('API key').waitFor();
    const coldMs = Date.now() - started;
    await check(cold.page, 'sign-in');

    const { page, errors } = await signIn(stack.adminKey);
    const pages: [string, string, string][] = [
      ['overview', '/ui/', '.card .big'],
      ['jobs', '/ui/jobs', 'table.jobs tbody tr'],
      ['job-detail', `/ui/jobs/${audioJob}`, 'audio'],
      ['dead-letters', '/ui/dead-letters', 'tr[data-group]'],
      ['queues', '/ui/queues', 'tbody tr'],
      ['schedules', '/ui/schedules', 'tbody tr'],
      ['flows', '/ui/flows', 'tbody tr'],
      ['flow-detail', `/ui/flows/${flow.body.id}`, 'svg.dag .node'],
      ['webhooks', '/ui/webhooks', 'form[aria-label="Add a webhook endpoint"]'],
      ['settings', '/ui/settings', 'tbody tr'],
    ];
    for (const [name, path, ready] of pages) {
      await page.goto(`${gateway()}${path}`);
      await page.locator(ready).first().waitFor({ timeout: 20000 });
      await check(page, name);
    }
    expect(errors).toEqual([]);

    // Keyboard: the skip link first, then the navigation; Enter follows a link.
    await page.goto(`${gateway()}/ui/`);
    await page.locator('.card .big').first().waitFor();
    const focused = () =>
      page.evaluate(() => (globalThis as unknown as FocusedDocument).document.activeElement?.textContent);
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('Skip to content');
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('Overview');
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('Jobs');
    await page.keyboard.press('Enter');
    await page.waitForURL('**/ui/jobs');
    await page.locator('table.jobs tbody tr').first().waitFor();

    const assets = readdirSync(join(CONSOLE_DIST, 'assets'));
    // Served with long-cache hashed assets, a revalidated index.html, and the page for client routes.
    const get = (path: string) => fetch(`${gateway()}${path}`);
    const index = await get('/ui/');
    expect([index.status, index.headers.get('cache-control')]).toEqual([200, 'no-cache']);
    const asset = await get(`/ui/assets/${assets[0] ?? ''}`);
    expect([asset.status, asset.headers.get('cache-control')]).toEqual([
      200,
      'public, max-age=31536000, immutable',
    ]);
    const route = await get(`/ui/jobs/${audioJob}`);
    expect([route.status, route.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
    expect((await get('/ui/assets/missing.js')).status).toBe(404);
    expect((await get('/ui')).url).toBe(`${gateway()}/ui/`);
    const gzipped = assets.reduce(
      (sum, file) => sum + gzipSync(readFileSync(join(CONSOLE_DIST, 'assets', file))).length,
      0,
    );
    // Figures for docs/console.md.
    process.stdout.write(
      `console: bundle ${(gzipped / 1024).toFixed(1)} KiB gzipped, cold load ${coldMs} ms\n`,
    );
    expect(gzipped).toBeLessThan(350 * 1024);
    // The issue's target is 1 s on a quiet machine; the shared test machine gets a margin.
    expect(coldMs).toBeLessThan(5000);
  });
});

/** What the test reads of an <audio> element (this file is compiled without the DOM types). */
interface AudioLike {
  readyState: number;
  duration: number;
  paused: boolean;
  muted: boolean;
  error: { code: number } | null;
  play(): Promise<void>;
  addEventListener(type: string, listener: (event: unknown) => void, options?: { once: boolean }): void;
}

interface FocusedDocument {
  document: { activeElement: { textContent: string | null } | null };
}

interface AxeResults {
  violations: { id: string; impact?: string | null; nodes: { target: string[] }[] }[];
}
