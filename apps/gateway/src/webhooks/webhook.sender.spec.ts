import type { LookupAddress } from 'node:dns';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RESPONSE_CAP_BYTES, sendWebhook, type SendOptions } from './webhook.sender';
import { guardedLookup, WebhookTargetRefused, type LookupAll, type Resolver } from './webhook.target';

// sendWebhook against a receiver on 127.0.0.1 in this process (so private targets are allowed,
// except where a test says otherwise); names are resolved by stubs, nothing leaves the machine.

interface Seen {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

class Receiver {
  readonly seen: Seen[] = [];
  /** Responses whose connection the client closed before the server ended them. */
  readonly cutShort: string[] = [];
  handler: Handler = (_request, response) => response.end('ok');
  private server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const path = request.url ?? '/';
        this.seen.push({
          method: request.method ?? '',
          path,
          headers: request.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
        response.on('close', () => {
          if (!response.writableEnded) this.cutShort.push(path);
        });
        this.handler(request, response);
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  url(path: string, host = '127.0.0.1'): string {
    return `http://${host}:${this.port}${path}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

const noResolve: Resolver = () => Promise.reject(new Error('no DNS in this test'));
const lenient: SendOptions = { allowPrivate: true, resolve: noResolve, timeoutMs: 5000 };
const body = JSON.stringify({ type: 'switchyard.job.completed', subject: 'job-1' });
const signature = { 'webhook-id': 'msg_1', 'webhook-timestamp': '1', 'webhook-signature': 'v1,abc' };

/** A lookup stub: names to addresses, recording what it was asked. */
function stubLookup(table: Record<string, string[]>): LookupAll & { asked: string[] } {
  const asked: string[] = [];
  const lookup: LookupAll = (hostname, _options, callback) => {
    asked.push(hostname);
    const addresses = table[hostname];
    setImmediate(() =>
      addresses
        ? callback(
            null,
            addresses.map((address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 })),
          )
        : callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []),
    );
  };
  return Object.assign(lookup, { asked });
}

describe('sendWebhook', () => {
  const receiver = new Receiver();

  beforeAll(() => receiver.start());
  afterAll(() => receiver.stop());
  beforeEach(() => {
    receiver.seen.length = 0;
    receiver.cutShort.length = 0;
    receiver.handler = (_request, response) => response.end('ok');
  });

  it('POSTs the body with the signature headers; a 2xx is delivered', async () => {
    await expect(sendWebhook(receiver.url('/hook?x=1'), body, signature, lenient)).resolves.toEqual({
      status: 200,
      ok: true,
      retryable: false,
      retryAfterMs: undefined,
      error: undefined,
    });
    expect(receiver.seen).toHaveLength(1);
    expect(receiver.seen[0]).toMatchObject({ method: 'POST', path: '/hook?x=1', body });
    expect(receiver.seen[0].headers).toMatchObject({
      ...signature,
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'user-agent': 'Switchyard-Webhooks/1',
    });
  });

  it('does not follow a redirect: a 3xx is a failed attempt, not retried', async () => {
    receiver.handler = (_request, response) =>
      response.writeHead(307, { location: receiver.url('/elsewhere') }).end();
    const outcome = await sendWebhook(receiver.url('/moved'), body, signature, lenient);
    expect(outcome).toMatchObject({ status: 307, ok: false, retryable: false, error: 'HTTP 307' });
    expect(receiver.seen.map((s) => s.path)).toEqual(['/moved']);
  });

  it('retries 5xx and 429, with the Retry-After of a 429 or 503, and not other 4xx', async () => {
    const answers: [number, Record<string, string>][] = [
      [500, {}],
      [503, { 'retry-after': '7' }],
      [429, { 'retry-after': '2' }],
      [410, { 'retry-after': '9' }],
    ];
    const outcomes = [];
    for (const [status, headers] of answers) {
      receiver.handler = (_request, response) => response.writeHead(status, headers).end('no');
      outcomes.push(await sendWebhook(receiver.url('/status'), body, signature, lenient));
    }
    expect(outcomes).toEqual([
      { status: 500, ok: false, retryable: true, retryAfterMs: undefined, error: 'HTTP 500' },
      { status: 503, ok: false, retryable: true, retryAfterMs: 7000, error: 'HTTP 503' },
      { status: 429, ok: false, retryable: true, retryAfterMs: 2000, error: 'HTTP 429' },
      { status: 410, ok: false, retryable: false, retryAfterMs: undefined, error: 'HTTP 410' },
    ]);
  });

  it(`reads at most ${RESPONSE_CAP_BYTES} bytes of an answer: a larger one is cut off, its status kept`, async () => {
    const chunk = Buffer.alloc(4096, 'x');
    let written = 0;
    // An answer that would never end: 4 KiB every 5 ms, up to 64 MiB.
    receiver.handler = (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => {
        if (response.destroyed || written >= 64 * 1024 * 1024) return clearInterval(timer);
        written += chunk.length;
        response.write(chunk);
      }, 5);
    };
    const started = Date.now();
    const outcome = await sendWebhook(receiver.url('/large'), body, signature, lenient);
    expect(outcome).toMatchObject({ status: 200, ok: true });
    // Well before the 5 s timeout: the sender stopped at the cap and closed the connection.
    expect(Date.now() - started).toBeLessThan(2500);
    await waitUntil(() => receiver.cutShort.includes('/large'));
    expect(written).toBeGreaterThan(RESPONSE_CAP_BYTES);
    expect(written).toBeLessThan(64 * 1024 * 1024);

    // An answer within the cap is read to its end.
    receiver.handler = (_request, response) => response.writeHead(500).end(Buffer.alloc(RESPONSE_CAP_BYTES));
    await expect(sendWebhook(receiver.url('/at-cap'), body, signature, lenient)).resolves.toMatchObject({
      status: 500,
      retryable: true,
    });
    expect(receiver.cutShort).not.toContain('/at-cap');
  });

  it('gives up after timeoutMs when no answer comes, as a retryable failure', async () => {
    receiver.handler = () => undefined; // never answers
    const started = Date.now();
    const outcome = await sendWebhook(receiver.url('/silent'), body, signature, {
      ...lenient,
      timeoutMs: 300,
    });
    const took = Date.now() - started;
    expect(outcome).toEqual({ status: null, ok: false, retryable: true, error: 'no answer within 300 ms' });
    expect(took).toBeGreaterThanOrEqual(300);
    expect(took).toBeLessThan(3000);
    await waitUntil(() => receiver.cutShort.includes('/silent'));
  });

  it('treats a network error as retryable: a refused connection, a connection dropped mid-answer', async () => {
    const closed = new Receiver();
    await closed.start();
    const port = closed.port;
    await closed.stop();
    const refused = await sendWebhook(`http://127.0.0.1:${port}/gone`, body, signature, lenient);
    expect(refused).toMatchObject({ status: null, ok: false, retryable: true });
    expect(refused.error).toMatch(/ECONNREFUSED/);

    receiver.handler = (request) => request.socket.destroy();
    const dropped = await sendWebhook(receiver.url('/reset'), body, signature, lenient);
    expect(dropped).toMatchObject({ status: null, ok: false, retryable: true });
    expect(dropped.error).toMatch(/socket hang up|ECONNRESET/);
  });

  it('refuses a private target when private targets are not allowed, sending nothing', async () => {
    const outcome = await sendWebhook(receiver.url('/private'), body, signature, {
      ...lenient,
      allowPrivate: false,
    });
    expect(outcome).toMatchObject({ status: null, ok: false });
    expect(outcome.error).toMatch(/not allowed/);
    expect(receiver.seen).toEqual([]);
  });

  it('refuses at connect time a name that was public when checked and resolves to a private address now (DNS rebinding)', async () => {
    const checkedPublic: Resolver = () => Promise.resolve([{ address: '93.184.215.14', family: 4 }]);
    const rebound = stubLookup({ 'rebind.example': ['127.0.0.1'] });
    const outcome = await sendWebhook(receiver.url('/rebind', 'rebind.example'), body, signature, {
      allowPrivate: false,
      resolve: checkedPublic,
      timeoutMs: 5000,
      lookup: rebound,
    });
    expect(outcome).toMatchObject({
      status: null,
      ok: false,
      error: 'rebind.example resolves to a refused address',
    });
    expect(rebound.asked).toEqual(['rebind.example']);
    expect(receiver.seen).toEqual([]);

    // The same lookup reaches the receiver when private targets are allowed: the stub is what connects.
    await expect(
      sendWebhook(receiver.url('/rebind', 'rebind.example'), body, signature, {
        ...lenient,
        lookup: rebound,
      }),
    ).resolves.toMatchObject({ status: 200, ok: true });
    expect(receiver.seen.map((s) => [s.path, s.headers.host])).toEqual([
      ['/rebind', `rebind.example:${receiver.port}`],
    ]);
  });
});

describe('guardedLookup', () => {
  const lookup = stubLookup({
    'metadata.example': ['169.254.169.254'],
    'loop6.example': ['::1'],
    'mixed.example': ['10.0.0.1', '93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
  });
  const strict = guardedLookup({ allowPrivate: false, resolve: noResolve }, lookup);

  /** Calls a LookupFunction the way net.connect does and collects its answer. */
  function resolveWith(
    fn: ReturnType<typeof guardedLookup>,
    hostname: string,
    all: boolean,
  ): Promise<{ error: Error | null; address: string | LookupAddress[]; family?: number }> {
    return new Promise((resolve) =>
      fn(hostname, { all }, (error, address, family) => resolve({ error, address, family })),
    );
  }

  it.each(['metadata.example', 'loop6.example'])(
    'refuses %s, whose every address is private',
    async (host) => {
      const { error } = await resolveWith(strict, host, true);
      expect(error).toBeInstanceOf(WebhookTargetRefused);
      expect(error?.message).toBe(`${host} resolves to a refused address`);
    },
  );

  it('keeps only the public addresses of a name that has both', async () => {
    await expect(resolveWith(strict, 'mixed.example', true)).resolves.toEqual({
      error: null,
      address: [
        { address: '93.184.215.14', family: 4 },
        { address: '2606:2800:21f:cb07:6820:80da:af6b:8b2c', family: 6 },
      ],
      family: undefined,
    });
    await expect(resolveWith(strict, 'mixed.example', false)).resolves.toEqual({
      error: null,
      address: '93.184.215.14',
      family: 4,
    });
  });

  it('passes private addresses through when they are allowed, and lookup errors as they are', async () => {
    const lenientLookup = guardedLookup({ allowPrivate: true, resolve: noResolve }, lookup);
    await expect(resolveWith(lenientLookup, 'metadata.example', false)).resolves.toMatchObject({
      error: null,
      address: '169.254.169.254',
      family: 4,
    });
    const { error } = await resolveWith(strict, 'nowhere.example', true);
    expect(error).toMatchObject({ code: 'ENOTFOUND' });
    expect(lookup.asked).toContain('nowhere.example');
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
