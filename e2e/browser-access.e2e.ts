// Browser access with job and flow tokens: a page on another origin (a second local HTTP server)
// follows a job, and a flow, with EventSource and `?token=` in Debian's Chromium (playwright-core),
// CORS only for the origins in CORS_ORIGINS and only on the token routes.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { TestStack, type TestApi } from '@switchyard/testing';

jest.setTimeout(180000);

const CHROMIUM = '/usr/bin/chromium';

/** The page: follows `job` on `gateway` with an EventSource and the job token. */
const PAGE = `<!doctype html><html><body><script>
const params = new URLSearchParams(location.search);
window.events = [];
window.done = false;
if (params.get('job')) {
  const source = new EventSource(params.get('gateway') + '/api/v1/jobs/' + params.get('job') + '/events?token=' +
    encodeURIComponent(params.get('token')));
  for (const type of ['snapshot', 'job.queued', 'job.started', 'job.progress', 'job.completed']) {
    source.addEventListener(type, (event) => {
      window.events.push({ type, id: event.lastEventId, data: JSON.parse(event.data) });
      if (type === 'job.completed') { window.done = true; source.close(); }
    });
  }
  source.onerror = () => window.events.push({ type: 'error' });
}
if (params.get('flow')) {
  // A flow's stream: its snapshot, then every job's events; done once every job has completed.
  const source = new EventSource(params.get('gateway') + '/api/v1/flows/' + params.get('flow') + '/events?token=' +
    encodeURIComponent(params.get('token')));
  let total = Infinity;
  const completed = new Set();
  for (const type of ['snapshot', 'job.queued', 'job.started', 'job.progress', 'job.completed', 'job.failed']) {
    source.addEventListener(type, (event) => {
      const data = JSON.parse(event.data);
      window.events.push({ type, id: event.lastEventId, jobId: type === 'snapshot' ? undefined : data.data.jobId });
      if (type === 'snapshot') total = data.total;
      if (type === 'job.completed') completed.add(data.data.jobId);
      if (completed.size >= total) { window.done = true; source.close(); }
    });
  }
  source.onerror = () => window.events.push({ type: 'error' });
}
</script></body></html>`;

describe('browser access with job and flow tokens', () => {
  let stack: TestStack;
  let api: TestApi;
  let pages: Server;
  let pageOrigin: string;
  let otherOrigin: string;
  let browser: Browser;

  beforeAll(async () => {
    pages = createServer((_request, response) => {
      response.setHeader('content-type', 'text/html');
      response.end(PAGE);
    });
    await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
    const port = (pages.address() as AddressInfo).port;
    pageOrigin = `http://127.0.0.1:${port}`;
    // The same server under another name is another origin, not on the list.
    otherOrigin = `http://localhost:${port}`;
    stack = await TestStack.create({
      CORS_ORIGINS: `https://app.example.com, ${pageOrigin}`,
      // Every refused token counts against the per-IP unauthenticated bucket (6 at the default rate);
      // these tests check the 401s themselves, a dozen in a row.
      RATE_LIMIT_ANON_PER_MIN: '6000',
    });
    await stack.start();
    api = stack.api((await stack.createApiKey('browser')).key);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.destroy();
    await new Promise((resolve) => pages?.close(resolve));
  });

  const gateway = () => stack.service('gateway').url;

  async function mint(jobId: string, ttlSeconds?: number): Promise<string> {
    const response = await api.post<{ token: string; jobId: string; expiresAt: string }>(
      `/jobs/${jobId}/tokens`,
      ttlSeconds === undefined ? {} : { ttlSeconds },
    );
    expect(response.status).toBe(201);
    expect(response.body.jobId).toBe(jobId);
    return response.body.token;
  }

  it('follows a job to completion with EventSource from an allowed origin', async () => {
    const jobId = await api.submit({ type: 'synthetic', payload: { durationMs: 1500, steps: 3 } });
    const otherJob = await api.submit({ type: 'synthetic', payload: { durationMs: 0 } });
    const token = await mint(jobId);
    const page = await browser.newPage();
    const query = new URLSearchParams({ gateway: gateway(), job: jobId, token });
    await page.goto(`${pageOrigin}/?${query.toString()}`);
    await page.waitForFunction(() => (globalThis as unknown as { done: boolean }).done, undefined, {
      timeout: 60000,
    });
    const events = await page.evaluate(
      () => (globalThis as unknown as { events: { type: string; data: { status?: string } }[] }).events,
    );
    expect(events[0]?.type).toBe('snapshot');
    expect(events.map((e) => e.type)).toContain('job.completed');
    expect(events.filter((e) => e.type === 'error')).toEqual([]);

    // The same token reads its job (and its result) from the page; another job is 404.
    const answers = await page.evaluate(
      async ({ base, job, other, token: t }) => {
        const status = async (path: string) => (await fetch(`${base}/api/v1/jobs/${path}?token=${t}`)).status;
        const own = await fetch(`${base}/api/v1/jobs/${job}?token=${t}`);
        return {
          own: own.status,
          ownStatus: ((await own.json()) as { status: string }).status,
          result: await status(`${job}/result`),
          other: await status(other),
          otherEvents: await status(`${other}/events`),
        };
      },
      { base: gateway(), job: jobId, other: otherJob, token },
    );
    expect(answers).toEqual({ own: 200, ownStatus: 'completed', result: 200, other: 404, otherEvents: 404 });
    await page.close();
  });

  it('answers 401 once the token has expired, and for a token on any other route', async () => {
    const jobId = await api.submit({ type: 'synthetic', payload: { durationMs: 0 } });
    const token = await mint(jobId, 2);
    expect((await fetch(`${gateway()}/api/v1/jobs/${jobId}?token=${token}`)).status).toBe(200);
    // It lives at least its ttlSeconds and stops at most a second later.
    const minted = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - minted < 10000) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = (await fetch(`${gateway()}/api/v1/jobs/${jobId}?token=${token}`)).status;
    }
    expect(status).toBe(401);
    expect(Date.now() - minted).toBeLessThan(5000);
    const page = await browser.newPage();
    await page.goto(`${pageOrigin}/`);
    const expired = await page.evaluate(
      async ({ base, job, t }) => {
        const response = await fetch(`${base}/api/v1/jobs/${job}?token=${t}`);
        return { status: response.status, body: (await response.json()) as { error: { code: string } } };
      },
      { base: gateway(), job: jobId, t: token },
    );
    expect(expired).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
    await page.close();

    const fresh = await mint(jobId);
    // Read-only and scoped: not the list, not a cancel, not with a tampered signature.
    expect((await fetch(`${gateway()}/api/v1/jobs?token=${fresh}`)).status).toBe(401);
    expect(
      (await fetch(`${gateway()}/api/v1/jobs/${jobId}/cancel?token=${fresh}`, { method: 'POST' })).status,
    ).toBe(401);
    expect((await fetch(`${gateway()}/api/v1/jobs/${jobId}?token=${fresh.slice(0, -2)}xx`)).status).toBe(401);
  });

  it('stops working when the API key that minted it is revoked', async () => {
    const { id, key } = await stack.createApiKey('browser');
    const jobId = await stack.api(key).submit({ type: 'synthetic', payload: { durationMs: 0 } });
    const token = (await stack.api(key).post<{ token: string }>(`/jobs/${jobId}/tokens`, {})).body.token;
    expect((await fetch(`${gateway()}/api/v1/jobs/${jobId}?token=${token}`)).status).toBe(200);
    expect((await stack.api().delete(`/admin/api-keys/${id}`)).status).toBe(204);
    // Key lookups are cached for at most 5 s.
    const deadline = Date.now() + 15000;
    let status = 200;
    while (Date.now() < deadline && status === 200) {
      status = (await fetch(`${gateway()}/api/v1/jobs/${jobId}?token=${token}`)).status;
      if (status === 200) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(status).toBe(401);
  });

  async function mintForFlow(flowId: string, ttlSeconds?: number): Promise<string> {
    const response = await api.post<{ token: string; flowId: string; expiresAt: string }>(
      `/flows/${flowId}/tokens`,
      ttlSeconds === undefined ? {} : { ttlSeconds },
    );
    expect(response.status).toBe(201);
    expect(response.body.flowId).toBe(flowId);
    return response.body.token;
  }

  async function submitFlow(durationMs: number): Promise<{ id: string; jobIds: string[] }> {
    const response = await api.post<{ id: string; jobs: { id: string }[] }>('/flows', {
      jobs: [
        { ref: 'a', type: 'synthetic', payload: { durationMs, steps: 2 } },
        { ref: 'b', type: 'synthetic', payload: { durationMs, steps: 2 }, dependsOn: ['a'] },
      ],
    });
    expect(response.status).toBe(202);
    return { id: response.body.id, jobIds: response.body.jobs.map((job) => job.id) };
  }

  it('follows a flow to completion with EventSource and a flow token from an allowed origin', async () => {
    const flow = await submitFlow(1000);
    const other = await submitFlow(0);
    const token = await mintForFlow(flow.id);
    const page = await browser.newPage();
    const query = new URLSearchParams({ gateway: gateway(), flow: flow.id, token });
    await page.goto(`${pageOrigin}/?${query.toString()}`);
    await page.waitForFunction(() => (globalThis as unknown as { done: boolean }).done, undefined, {
      timeout: 60000,
    });
    const events = await page.evaluate(
      () => (globalThis as unknown as { events: { type: string; jobId?: string }[] }).events,
    );
    expect(events[0]?.type).toBe('snapshot');
    expect(events.filter((e) => e.type === 'error')).toEqual([]);
    // Both jobs' lifecycles came through the one stream, the dependency after its dependency.
    const completedJobs = events.filter((e) => e.type === 'job.completed').map((e) => e.jobId);
    expect([...new Set(completedJobs)]).toEqual(flow.jobIds);
    expect(events.some((e) => e.type === 'job.progress')).toBe(true);

    // The same token reads its flow from the page; another flow is 404.
    const answers = await page.evaluate(
      async ({ base, own, other: o, t }) => {
        const status = async (path: string) =>
          (await fetch(`${base}/api/v1/flows/${path}?token=${t}`)).status;
        const flowResponse = await fetch(`${base}/api/v1/flows/${own}?token=${t}`);
        return {
          own: flowResponse.status,
          ownStatus: ((await flowResponse.json()) as { status: string }).status,
          other: await status(o),
          otherEvents: await status(`${o}/events`),
        };
      },
      { base: gateway(), own: flow.id, other: other.id, t: token },
    );
    expect(answers).toEqual({ own: 200, ownStatus: 'completed', other: 404, otherEvents: 404 });
    await page.close();
  });

  it('answers 401 for a flow token once it has expired and on every other route', async () => {
    const flow = await submitFlow(0);
    const token = await mintForFlow(flow.id, 2);
    const url = `${gateway()}/api/v1/flows/${flow.id}?token=${token}`;
    expect((await fetch(url)).status).toBe(200);
    const minted = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - minted < 10000) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = (await fetch(url)).status;
    }
    expect(status).toBe(401);
    expect(Date.now() - minted).toBeLessThan(5000);

    const fresh = await mintForFlow(flow.id);
    const answer = async (path: string, method = 'GET') =>
      (await fetch(`${gateway()}/api/v1${path}?token=${fresh}`, { method })).status;
    expect(await answer(`/flows/${flow.id}`)).toBe(200);
    expect(await answer(`/flows/${flow.id}/events`)).toBe(200);
    // Read-only and for the flow only: not the list, not a cancel or retry, not its jobs' routes.
    expect(await answer('/flows')).toBe(401);
    expect(await answer(`/flows/${flow.id}`, 'DELETE')).toBe(401);
    expect(await answer(`/flows/${flow.id}/retry`, 'POST')).toBe(401);
    expect(await answer(`/flows/${flow.id}/tokens`, 'POST')).toBe(401);
    expect(await answer(`/jobs/${flow.jobIds[0]}`)).toBe(401);
    expect(await answer(`/jobs/${flow.jobIds[0]}/events`)).toBe(401);
    expect(await answer(`/jobs/${flow.jobIds[0]}/result`)).toBe(401);
    // A job token does not open the flow routes either.
    const jobToken = await mint(flow.jobIds[0]);
    expect((await fetch(`${gateway()}/api/v1/flows/${flow.id}?token=${jobToken}`)).status).toBe(401);

    // CORS for the listed origin on the flow-token routes only.
    const listed = await fetch(`${gateway()}/api/v1/flows/${flow.id}?token=${fresh}`, {
      headers: { origin: pageOrigin },
    });
    expect(listed.headers.get('access-control-allow-origin')).toBe(pageOrigin);
    const preflight = (path: string) =>
      fetch(`${gateway()}${path}`, {
        method: 'OPTIONS',
        headers: { origin: pageOrigin, 'access-control-request-method': 'GET' },
      });
    expect((await preflight(`/api/v1/flows/${flow.id}/events`)).status).toBe(204);
    expect((await preflight(`/api/v1/flows/${flow.id}/retry`)).status).toBe(404);
  });

  it('gives an origin not on the list no CORS headers, and answers OPTIONS 404 elsewhere', async () => {
    const jobId = await api.submit({ type: 'synthetic', payload: { durationMs: 0 } });
    const token = await mint(jobId);
    const url = `${gateway()}/api/v1/jobs/${jobId}?token=${token}`;

    const listed = await fetch(url, { headers: { origin: pageOrigin } });
    expect(listed.headers.get('access-control-allow-origin')).toBe(pageOrigin);
    const unlisted = await fetch(url, { headers: { origin: otherOrigin } });
    expect(unlisted.status).toBe(200);
    expect(unlisted.headers.get('access-control-allow-origin')).toBeNull();

    const preflight = (origin: string, path: string) =>
      fetch(`${gateway()}${path}`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'last-event-id',
        },
      });
    const allowed = await preflight(pageOrigin, `/api/v1/jobs/${jobId}/events`);
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-headers')).toContain('last-event-id');
    const refused = await preflight(otherOrigin, `/api/v1/jobs/${jobId}/events`);
    expect(refused.status).toBe(404);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    // Not a job-token route: no CORS even for a listed origin.
    expect((await preflight(pageOrigin, '/api/v1/jobs')).status).toBe(404);
    const listRoute = await fetch(`${gateway()}/api/v1/jobs`, {
      headers: { origin: pageOrigin, authorization: `Bearer ${stack.adminKey}` },
    });
    expect(listRoute.status).toBe(200);
    expect(listRoute.headers.get('access-control-allow-origin')).toBeNull();

    // In Chromium, the unlisted origin's page cannot read the answer at all.
    const page = await browser.newPage();
    await page.goto(`${otherOrigin}/`);
    const blocked = await page.evaluate(async (u) => {
      try {
        await fetch(u);
        return 'readable';
      } catch {
        return 'blocked';
      }
    }, url);
    expect(blocked).toBe('blocked');
    await page.close();
  });
});
