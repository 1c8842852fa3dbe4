// Traces (issue 21): with OTEL_EXPORTER_OTLP_ENDPOINT pointed at an OTLP/HTTP receiver this test
// serves, one provider.generate job yields one trace from the gateway's request through the
// insert, the dispatch publish, the worker's consume, claim, handler, steps and provider HTTP call
// to the completion, linked parent to child across the gateway, the worker and the provider; a
// retried job's second attempt is in the same trace and linked to the first.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { TestStack, waitFor, type TestApi } from '@switchyard/testing';
import { adminApi, REPO_ROOT } from './fixtures/handlers-support';

jest.setTimeout(180000);

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: OtlpAttribute[];
  links?: { traceId: string; spanId: string }[];
}
interface OtlpExport {
  resourceSpans: {
    resource: { attributes: OtlpAttribute[] };
    scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[];
  }[];
}

/** A span as received, with the service that sent it. */
interface Received extends OtlpSpan {
  service: string;
  scope: string;
}

const KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;

const attr = (span: OtlpSpan, key: string): string | number | boolean | undefined => {
  const value = span.attributes?.find((a) => a.key === key)?.value;
  if (!value) return undefined;
  return value.stringValue ?? (value.intValue === undefined ? value.boolValue : Number(value.intValue));
};

/** The OTLP/HTTP receiver: the services' exporters post JSON (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL http/json). */
class OtlpReceiver {
  readonly spans: Received[] = [];
  readonly contentTypes = new Set<string>();
  private server!: Server;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.contentTypes.add(String(req.headers['content-type']));
        if (req.url === '/v1/traces')
          this.take(JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpExport);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((done) => this.server.listen(0, '127.0.0.1', done));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private take(body: OtlpExport): void {
    for (const rs of body.resourceSpans) {
      const service = String(rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue);
      for (const ss of rs.scopeSpans)
        for (const span of ss.spans) this.spans.push({ ...span, service, scope: ss.scope.name });
    }
  }

  trace(traceId: string): Received[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((done) => this.server.close(() => done()));
  }
}

/** A provider that answers with an OpenAI-style usage object and records the trace headers it got. */
class FakeProvider {
  readonly requests: { path: string; traceparent: string | undefined }[] = [];
  private flakyCalls = 0;
  private server!: Server;

  async start(): Promise<string> {
    this.server = createServer((req: IncomingMessage, res) => {
      req.resume();
      req.on('end', () => {
        const header = req.headers['traceparent'];
        this.requests.push({
          path: req.url ?? '',
          traceparent: typeof header === 'string' ? header : undefined,
        });
        const json = (status: number, value: unknown) =>
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
        if (req.url === '/v1/chat') {
          json(200, { text: 'hello', usage: { prompt_tokens: 12, completion_tokens: 30, total_tokens: 42 } });
        } else if (req.url === '/v1/flaky') {
          this.flakyCalls += 1;
          if (this.flakyCalls === 1) json(503, { error: 'warming up' });
          else json(200, { text: 'ok' });
        } else json(404, { error: 'no such route' });
      });
    });
    await new Promise<void>((done) => this.server.listen(0, '127.0.0.1', done));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((done) => this.server.close(() => done()));
  }
}

describe('traces across the gateway, the worker and a provider', () => {
  let stack: TestStack;
  let api: TestApi;
  let receiver: OtlpReceiver;
  let provider: FakeProvider;

  beforeAll(async () => {
    receiver = new OtlpReceiver();
    provider = new FakeProvider();
    const [endpoint, baseUrl] = await Promise.all([receiver.start(), provider.start()]);
    stack = await TestStack.create({
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      // Spans leave each process within a fifth of a second instead of five.
      OTEL_BSP_SCHEDULE_DELAY: '200',
    });
    const providersFile = `tmp/${stack.id}/providers.json`;
    await mkdir(resolve(REPO_ROOT, 'tmp', stack.id), { recursive: true });
    await writeFile(
      resolve(REPO_ROOT, providersFile),
      JSON.stringify({
        providers: {
          llm: {
            baseUrl,
            timeoutMs: 5000,
            operations: { chat: { path: '/v1/chat' }, flaky: { path: '/v1/flaky' } },
          },
        },
      }),
    );
    await stack.start(['gateway', 'progress-tracker']);
    await stack.spawn('worker', { PROVIDERS_FILE: providersFile });
    api = adminApi(stack);
  });

  afterAll(async () => {
    await stack?.destroy();
    await Promise.all([receiver?.stop(), provider?.stop()]);
    if (stack) await rm(resolve(REPO_ROOT, 'tmp', stack.id), { recursive: true, force: true });
  });

  /** The spans of `traceId` once every named one has arrived. */
  const spansOf = (traceId: string, names: ((s: Received) => boolean)[]) =>
    waitFor(
      () => {
        const spans = receiver.trace(traceId);
        return names.every((match) => spans.some(match)) ? spans : undefined;
      },
      { timeoutMs: 20000, intervalMs: 100, what: `the spans of trace ${traceId}` },
    );

  it('follows one job from POST /jobs to its completion with parent/child links across processes', async () => {
    const id = await api.submit({
      type: 'provider.generate',
      payload: { provider: 'llm', operation: 'chat' },
    });
    const job = await api.waitForStatus(id, ['completed', 'failed'], 30000);
    expect(job.status).toBe('completed');
    const traceId = (job as unknown as { traceId?: string }).traceId;
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);

    const isHttpClient = (s: Received) =>
      s.service === 'switchyard-worker' && s.kind === KIND.client && s.scope.includes('undici');
    const spans = await spansOf(traceId!, [
      (s) => s.service === 'switchyard-gateway' && s.kind === KIND.server,
      (s) => s.name === 'job.insert',
      (s) => s.name === 'job.dispatch',
      (s) => s.service === 'switchyard-worker' && s.kind === KIND.consumer,
      (s) => s.name === 'job.claim',
      (s) => s.name === 'job.handler',
      (s) => s.name === 'step calling_provider',
      (s) => s.name === 'step saving',
      isHttpClient,
      (s) => s.name === 'job.complete',
    ]);
    const one = (match: (s: Received) => boolean, what: string) => {
      const found = spans.filter(match);
      if (found.length !== 1) throw new Error(`expected one ${what} span, got ${found.length}`);
      return found[0];
    };
    const request = one((s) => s.service === 'switchyard-gateway' && s.kind === KIND.server, 'request');
    const insert = one((s) => s.name === 'job.insert', 'insert');
    const dispatch = one((s) => s.name === 'job.dispatch', 'dispatch');
    const consume = one((s) => s.service === 'switchyard-worker' && s.kind === KIND.consumer, 'consume');
    const claim = one((s) => s.name === 'job.claim', 'claim');
    const handler = one((s) => s.name === 'job.handler', 'handler');
    const calling = one((s) => s.name === 'step calling_provider', 'step');
    const saving = one((s) => s.name === 'step saving', 'step');
    const http = one(isHttpClient, 'provider HTTP call');
    const complete = one((s) => s.name === 'job.complete', 'completion');

    // The request is the root; everything else hangs under it, process by process.
    expect(request.parentSpanId ?? '').toBe('');
    expect(attr(request, 'http.request.method') ?? attr(request, 'http.method')).toBe('POST');
    expect(insert).toMatchObject({ service: 'switchyard-gateway', parentSpanId: request.spanId });
    expect(dispatch).toMatchObject({
      service: 'switchyard-gateway',
      kind: KIND.producer,
      parentSpanId: insert.spanId,
    });
    expect(attr(dispatch, 'switchyard.job.id')).toBe(id);
    expect(consume.parentSpanId).toBe(dispatch.spanId);
    for (const child of [claim, handler, complete]) {
      expect(child).toMatchObject({ service: 'switchyard-worker', parentSpanId: consume.spanId });
    }
    expect(calling.parentSpanId).toBe(handler.spanId);
    expect(saving.parentSpanId).toBe(handler.spanId);
    expect(http.parentSpanId).toBe(handler.spanId);
    expect(String(attr(http, 'url.full') ?? attr(http, 'http.url'))).toContain('/v1/chat');
    // PostgreSQL statements of the request and of the worker are in the trace too.
    expect(spans.some((s) => s.scope.includes('pg') && s.parentSpanId === insert.spanId)).toBe(true);
    // The third process: the provider got the HTTP call's span as its parent.
    const call = provider.requests.find((r) => r.path === '/v1/chat');
    expect(call?.traceparent).toBe(`00-${traceId}-${http.spanId}-01`);
    expect(receiver.contentTypes).toEqual(new Set(['application/json']));
  });

  it('puts a retried attempt in the same trace, linked to the first attempt', async () => {
    const id = await api.submit({
      type: 'provider.generate',
      payload: { provider: 'llm', operation: 'flaky' },
      maxAttempts: 3,
    });
    const job = await api.waitForStatus(id, ['completed', 'failed'], 60000);
    expect(job).toMatchObject({ status: 'completed', attempts: 2 });
    const traceId = (job as unknown as { traceId: string }).traceId;
    const isHandler = (attempt: number) => (s: Received) =>
      s.name === 'job.handler' && attr(s, 'switchyard.job.attempt') === attempt;
    const spans = await spansOf(traceId, [isHandler(1), isHandler(2)]);
    const first = spans.find(isHandler(1))!;
    const second = spans.find(isHandler(2))!;
    expect(second.traceId).toBe(first.traceId);
    expect(second.links).toEqual([expect.objectContaining({ traceId, spanId: first.spanId })]);
    // The retry's delivery (after its delay hops) hangs under the job's insert, not under attempt 1.
    const insert = spans.find((s) => s.name === 'job.insert')!;
    const retryConsumer = spans.find((s) => s.spanId === second.parentSpanId);
    expect(retryConsumer).toMatchObject({ kind: KIND.consumer, parentSpanId: insert.spanId });
    const firstConsumer = spans.find((s) => s.spanId === first.parentSpanId);
    expect(firstConsumer).toMatchObject({ kind: KIND.consumer });
    expect(spans.find((s) => s.spanId === firstConsumer?.parentSpanId)?.name).toBe('job.dispatch');
  });
});
