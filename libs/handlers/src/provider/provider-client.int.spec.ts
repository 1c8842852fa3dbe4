import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DeferredError, PermanentError, RateLimitedError, RetryableError } from '@switchyard/handler-sdk';
import { ProviderClient } from './provider-client';
import { parseProvidersFile, type ProviderConfig } from './providers-file';

/** A local HTTP server whose answers each test scripts; it records the requests. */
describe('ProviderClient against a local HTTP server', () => {
  let server: Server;
  let baseUrl: string;
  let answer: (path: string, res: ServerResponse) => void;
  const requests: { path: string; headers: Record<string, unknown> }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        requests.push({ path: req.url ?? '', headers: req.headers });
        answer(req.url ?? '', res);
      });
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  });
  beforeEach(() => (requests.length = 0));

  const config = (extra: Record<string, unknown> = {}): ProviderConfig =>
    parseProvidersFile(
      JSON.stringify({
        providers: {
          p: {
            baseUrl,
            timeoutMs: 300,
            auth: { header: 'X-Api-Key', secretEnv: 'P_KEY' },
            breaker: { volumeThreshold: 2, resetTimeoutMs: 60000, rollingWindowMs: 10000 },
            operations: {
              run: { path: '/run' },
              job: {
                path: '/submit',
                poll: {
                  statusPath: '/jobs/{id}',
                  intervalMs: 10,
                  doneField: 'done',
                  errorField: 'error',
                  resultField: 'out.value',
                },
              },
            },
            ...extra,
          },
        },
      }),
      false,
    ).providers['p'];
  const never = new AbortController().signal;
  const failure = (client: ProviderClient, operation = 'run', signal = never) =>
    client.run(operation, { a: 1 }, signal).then(
      () => undefined,
      (e: unknown) => e,
    );

  it('returns the bytes and content type and sends the secret', async () => {
    answer = (_p, res) => res.writeHead(200, { 'content-type': 'audio/mpeg' }).end('mp3');
    const client = new ProviderClient('p', config(), 'secret');
    try {
      const result = await client.run('run', { a: 1 }, never);
      // Every answered call counts one request in the job's usage.
      expect(result).toEqual({
        bytes: Buffer.from('mp3'),
        contentType: 'audio/mpeg',
        usage: { requests: 1 },
      });
      expect(requests[0].headers['x-api-key']).toBe('secret');
    } finally {
      client.breaker.shutdown();
    }
  });

  it('classifies 400 as permanent, 429 with Retry-After as rate limited, 429 without a reset and 503 as retryable, a slow answer as a timeout', async () => {
    const client = new ProviderClient('p', config({ breaker: { volumeThreshold: 100 } }), 'secret');
    try {
      answer = (_p, res) => res.writeHead(400).end('bad input');
      const rejected = await failure(client);
      expect(rejected).toBeInstanceOf(PermanentError);
      expect(rejected).toMatchObject({ code: 'provider_rejected' });

      answer = (_p, res) => res.writeHead(429, { 'retry-after': '7' }).end();
      const limited = await failure(client);
      expect(limited).toBeInstanceOf(RateLimitedError);
      expect(limited).toMatchObject({ code: 'rate_limited', retryAfterMs: 7000 });

      answer = (_p, res) =>
        res.writeHead(403, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '2s' }).end();
      expect(await failure(client)).toMatchObject({ code: 'rate_limited', retryAfterMs: 2000 });

      answer = (_p, res) => res.writeHead(429).end();
      expect(await failure(client)).toMatchObject({ code: 'provider_error' });
      expect(await failure(client)).toBeInstanceOf(RetryableError);

      answer = (_p, res) => res.writeHead(503).end();
      const unavailable = await failure(client);
      expect(unavailable).toBeInstanceOf(RetryableError);
      expect((unavailable as RetryableError).retryAfterMs).toBeUndefined();

      answer = (_p, res) => setTimeout(() => res.writeHead(200).end(), 1000);
      expect(await failure(client)).toMatchObject({ code: 'provider_timeout' });
    } finally {
      client.breaker.shutdown();
    }
  });

  it('opens the circuit after failures and then defers without calling the provider', async () => {
    const client = new ProviderClient('p', config(), 'secret');
    try {
      answer = (_p, res) => res.writeHead(500).end();
      await failure(client);
      await failure(client);
      expect(client.breaker.state()).toBe('open');
      const calls = requests.length;
      const deferred = await failure(client);
      expect(deferred).toBeInstanceOf(DeferredError);
      expect((deferred as DeferredError).retryAfterMs).toBeGreaterThan(59000);
      expect(requests.length).toBe(calls);
    } finally {
      client.breaker.shutdown();
    }
  });

  it('does not count rate-limited answers against the provider: the breaker stays closed', async () => {
    const client = new ProviderClient('p', config(), 'secret');
    try {
      answer = (_p, res) => res.writeHead(429, { 'retry-after': '1' }).end();
      for (let i = 0; i < 4; i++) expect(await failure(client)).toBeInstanceOf(RateLimitedError);
      expect(client.breaker.state()).toBe('closed');
    } finally {
      client.breaker.shutdown();
    }
  });

  it('does not count 4xx answers or the caller’s own abort against the provider', async () => {
    const client = new ProviderClient('p', config(), 'secret');
    try {
      answer = (_p, res) => res.writeHead(404).end();
      for (let i = 0; i < 4; i++) await failure(client);
      answer = (_p, res) => setTimeout(() => res.writeHead(200).end(), 200);
      for (let i = 0; i < 3; i++) {
        const abort = new AbortController();
        setTimeout(() => abort.abort(new Error('cancelled by the job')), 20);
        expect(await failure(client, 'run', abort.signal)).toMatchObject({ message: 'cancelled by the job' });
      }
      expect(client.breaker.state()).toBe('closed');
    } finally {
      client.breaker.shutdown();
    }
  });

  it('polls a provider job until it is done, or fails it when the provider says it failed', async () => {
    const client = new ProviderClient('p', config(), 'secret');
    try {
      let polls = 0;
      answer = (path, res) => {
        if (path === '/submit') return void res.writeHead(200).end(JSON.stringify({ id: 'a/b' }));
        polls += 1;
        res
          .writeHead(200)
          .end(JSON.stringify(polls < 3 ? { done: false } : { done: true, out: { value: [1, 2] } }));
      };
      const result = await client.run('job', {}, never);
      expect(result).toMatchObject({ contentType: 'application/json', providerJobId: 'a/b' });
      expect(JSON.parse(result.bytes.toString())).toEqual([1, 2]);
      expect(requests.map((r) => r.path)).toEqual(['/submit', '/jobs/a%2Fb', '/jobs/a%2Fb', '/jobs/a%2Fb']);

      answer = (path, res) =>
        res
          .writeHead(200)
          .end(JSON.stringify(path === '/submit' ? { id: 1 } : { done: false, error: 'out of credits' }));
      const failed = await failure(client, 'job');
      expect(failed).toMatchObject({ code: 'provider_job_failed' });
      expect((failed as Error).message).toContain('out of credits');
    } finally {
      client.breaker.shutdown();
    }
  });
  it('keeps the secret on a same-origin redirect and never sends it to another origin', async () => {
    // A second server on another port is another origin (scheme, host and port).
    const elsewhere: { path: string; headers: Record<string, unknown> }[] = [];
    const other = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        elsewhere.push({ path: req.url ?? '', headers: req.headers });
        res.writeHead(200, { 'content-type': 'text/plain' }).end('from elsewhere');
      });
    });
    await new Promise<void>((done) => other.listen(0, '127.0.0.1', done));
    const otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    const client = new ProviderClient(
      'p',
      config({ auth: { header: 'X-Api-Key', secretEnv: 'P_KEY', scheme: 'Key' } }),
      'secret',
    );
    try {
      answer = (path, res) => {
        if (path === '/run') return void res.writeHead(307, { location: '/moved' }).end();
        if (path === '/moved') return void res.writeHead(302, { location: `${otherUrl}/away?x=1` }).end();
        res.writeHead(404).end();
      };
      const result = await client.run('run', { a: 1 }, never);
      expect(result.bytes.toString()).toBe('from elsewhere');
      expect(requests.map((r) => [r.path, r.headers['x-api-key']])).toEqual([
        ['/run', 'Key secret'],
        ['/moved', 'Key secret'],
      ]);
      expect(elsewhere).toHaveLength(1);
      expect(elsewhere[0].path).toBe('/away?x=1');
      expect(elsewhere[0].headers['x-api-key']).toBeUndefined();
      expect(elsewhere[0].headers['authorization']).toBeUndefined();

      // Authorization as the configured header is dropped the same way.
      const bearer = new ProviderClient(
        'p',
        config({ auth: { header: 'Authorization', secretEnv: 'P_KEY', scheme: 'Bearer' } }),
        'secret',
      );
      try {
        elsewhere.length = 0;
        answer = (_p, res) => res.writeHead(308, { location: `${otherUrl}/b` }).end();
        await bearer.run('run', { a: 1 }, never);
        expect(elsewhere[0].headers['authorization']).toBeUndefined();
      } finally {
        bearer.breaker.shutdown();
      }

      // A redirect loop ends as a permanent failure instead of following forever.
      answer = (_p, res) => res.writeHead(302, { location: '/run' }).end();
      expect(await failure(client)).toMatchObject({ code: 'provider_protocol_error' });
    } finally {
      client.breaker.shutdown();
      other.closeAllConnections();
      await new Promise((done) => other.close(done));
    }
  });
});
