// What the four running services serve on /metrics (SPEC §8): each scrape passes the checks of
// `promtool check metrics` (lintExposition; promtool itself: metrics-scrape.tools.ts), carries its
// service label and the families that service owns; the metrics service reports depth, consumers
// and the oldest age of a queue nobody consumes and of one that drains; the gateway records HTTP
// latency by route template; and every PromQL expression of the Grafana dashboard and the alert
// rules names a metric that the running services really expose (RabbitMQ's own metrics, scraped
// from the broker, are checked against infrastructure/rabbitmq/metrics.txt by
// infrastructure.e2e.ts).
import { randomUUID } from 'node:crypto';
import { DEV_ADMIN_API_KEY } from '@switchyard/config';
import { TestStack, waitFor, type ServiceName } from '@switchyard/testing';
import {
  parseExposition,
  lintExposition,
  scrape,
  seriesNames,
  total,
  type Exposition,
} from './support/exposition';
import { alertRules, dashboard, dashboardExprs, metricList, metricNamesIn } from './support/promql';

jest.setTimeout(120_000);

const SERVICES: ServiceName[] = ['gateway', 'worker', 'progress-tracker', 'metrics'];
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;
/** Series Prometheus makes itself for every target. */
const PROMETHEUS_SYNTHETIC = new Set(['up']);

describe('metrics of the running services', () => {
  let stack: TestStack;
  let api: string;

  beforeAll(async () => {
    // DISPATCH_LINGER_MS=0: each submission's work message goes out alone, so the queue's ready
    // messages are its jobs (with the linger, quick submissions share messages).
    stack = await TestStack.create({ QUEUE_POLL_MS: '200', DISPATCH_LINGER_MS: '0' });
    // No worker yet: the first test needs a queue without consumers.
    await stack.start(['gateway', 'progress-tracker', 'metrics']);
    api = `${stack.service('gateway').url}/api/v1`;
  });

  afterAll(async () => {
    await stack?.destroy();
  });

  const headers = {
    'content-type': 'application/json',
    authorization: `Bearer ${DEV_ADMIN_API_KEY}`,
  };
  const submit = async (payload: Record<string, unknown>): Promise<string> => {
    const response = await fetch(`${api}/jobs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ type: 'synthetic', payload, dedupe: false }),
    });
    const body = (await response.json()) as { id: string };
    expect(response.status).toBe(202);
    return body.id;
  };
  const metrics = () => scrape(stack.service('metrics').url);
  const value = (e: Exposition, name: string, labels: Record<string, string>) => total(e, name, labels);

  it('shows the ready jobs, no consumer and a growing oldest age of an unconsumed queue, then the drain', async () => {
    const ids = await Promise.all([0, 1, 2].map((i) => submit({ durationMs: 0, steps: i })));
    const stuck = await waitFor(
      async () => {
        const e = await metrics();
        const ready = value(e, 'switchyard_queue_depth', { queue: 'default', state: 'ready' });
        const consumers = e.samples.find(
          (s) => s.name === 'switchyard_queue_consumers' && s.labels['queue'] === 'default',
        );
        const age = value(e, 'switchyard_queue_oldest_age_seconds', { queue: 'default' });
        // The queue is polled and the events are consumed independently: wait for both to show.
        const submitted = value(e, 'switchyard_jobs_submitted_total', {
          type: 'synthetic',
          queue: 'default',
        });
        return ready === 3 && consumers?.value === 0 && age > 0 && submitted >= 3 ? e : undefined;
      },
      { timeoutMs: 15_000, what: 'queue default: 3 ready, 0 consumers, an oldest age, 3 submitted' },
    );
    expect(value(stuck, 'switchyard_jobs_submitted_total', { type: 'synthetic', queue: 'default' })).toBe(3);
    // Submitted at normal priority (5), looked up in PostgreSQL since events do not carry it.
    expect(value(stuck, 'switchyard_jobs_submitted_total', { priority: '5' })).toBe(3);
    expect(value(stuck, 'switchyard_queue_depth', { queue: 'dlq', state: 'ready' })).toBe(0);
    // Released from the PostgreSQL backlog into the (consumer-less) work queue, within its window.
    expect(value(stuck, 'switchyard_queue_depth', { queue: 'default', state: 'released' })).toBe(3);
    expect(value(stuck, 'switchyard_queue_depth', { queue: 'default', state: 'backlog' })).toBe(0);
    expect(value(stuck, 'switchyard_queue_depth', { queue: 'default', state: 'scheduled' })).toBe(0);
    expect(
      stuck.samples.find((s) => s.name === 'switchyard_queue_paused' && s.labels['queue'] === 'default')
        ?.value,
    ).toBe(0);
    const firstAge = value(stuck, 'switchyard_queue_oldest_age_seconds', { queue: 'default' });
    await waitFor(
      async () =>
        value(await metrics(), 'switchyard_queue_oldest_age_seconds', { queue: 'default' }) > firstAge,
      { what: 'the oldest age to grow' },
    );

    await stack.start(['worker']);
    const drained = await waitFor(
      async () => {
        const e = await metrics();
        const done =
          value(e, 'switchyard_jobs_completed_total', { type: 'synthetic' }) === 3 &&
          value(e, 'switchyard_queue_depth', { queue: 'default', state: 'ready' }) === 0 &&
          value(e, 'switchyard_queue_depth', { queue: 'default', state: 'running' }) === 0 &&
          value(e, 'switchyard_queue_consumers', { queue: 'default' }) >= 1 &&
          e.samples.some(
            (s) =>
              s.name === 'switchyard_queue_oldest_age_seconds' &&
              s.labels['queue'] === 'default' &&
              s.value === 0,
          );
        return done ? e : undefined;
      },
      { timeoutMs: 30_000, what: 'the queue to drain with a consumer attached' },
    );
    expect(value(drained, 'switchyard_job_duration_seconds_count', { type: 'synthetic' })).toBe(3);
    expect(value(drained, 'switchyard_job_wait_seconds_count', { type: 'synthetic' })).toBe(3);
    // They waited at least as long as the first scrape saw them waiting.
    expect(value(drained, 'switchyard_job_wait_seconds_sum', { type: 'synthetic' })).toBeGreaterThan(
      firstAge,
    );
    expect(ids).toHaveLength(3);
  });

  it('records HTTP latency by method, route template and status, never by raw path', async () => {
    const id = await submit({ durationMs: 0 });
    expect((await fetch(`${api}/jobs/${id}`, { headers })).status).toBe(200);
    expect((await fetch(`${api}/jobs/${randomUUID()}`, { headers })).status).toBe(404);
    expect((await fetch(`${stack.service('gateway').url}/no/such/${randomUUID()}`)).status).toBe(404);

    const gateway = await waitFor(
      async () => {
        const e = await scrape(stack.service('gateway').url);
        const count = (route: string, status: string) =>
          value(e, 'switchyard_http_request_duration_seconds_count', { method: 'GET', route, status });
        return count('/api/v1/jobs/:id', '200') >= 1 &&
          count('/api/v1/jobs/:id', '404') >= 1 &&
          count('unmatched', '404') >= 1
          ? e
          : undefined;
      },
      { what: 'the gateway to record the three requests' },
    );
    expect(
      value(gateway, 'switchyard_http_request_duration_seconds_count', {
        method: 'POST',
        route: '/api/v1/jobs',
        status: '202',
      }),
    ).toBeGreaterThanOrEqual(1);
    const routes = gateway.samples
      .filter((s) => s.name.startsWith('switchyard_http_request_duration_seconds'))
      .map((s) => s.labels['route']);
    expect(routes.filter((route) => UUID.test(route ?? ''))).toEqual([]);

    // Every service records its own requests (here: the readiness probes TestStack made).
    for (const name of SERVICES) {
      const e = await scrape(stack.service(name).url);
      const probes = value(e, 'switchyard_http_request_duration_seconds_count', {
        method: 'GET',
        route: '/health/ready',
        status: '200',
      });
      expect([name, probes >= 1]).toEqual([name, true]);
    }
  });

  it('the gateway counts dedup hits, result-cache misses and hits', async () => {
    const gateway = () => scrape(stack.service('gateway').url);
    const counts = (e: Exposition) => ({
      dedup: total(e, 'switchyard_dedup_hits_total'),
      misses: total(e, 'switchyard_cache_misses_total'),
      hits: total(e, 'switchyard_cache_hits_total'),
    });
    const before = counts(await gateway());
    const post = async (body: Record<string, unknown>) => {
      const response = await fetch(`${api}/jobs`, { method: 'POST', headers, body: JSON.stringify(body) });
      return { status: response.status, body: (await response.json()) as { id: string; status: string } };
    };
    const payload = { durationMs: 0, steps: 3, cacheable: true };
    const first = await post({ type: 'synthetic', payload });
    const repeat = await post({ type: 'synthetic', payload });
    expect([first.status, repeat.status, repeat.body.id]).toEqual([202, 200, first.body.id]);
    await waitFor(
      async () => {
        const response = await fetch(`${api}/jobs/${first.body.id}`, { headers });
        return ((await response.json()) as { status: string }).status === 'completed';
      },
      { what: 'the cacheable job to complete' },
    );
    const cached = await post({ type: 'synthetic', payload, dedupe: false });
    expect([cached.status, cached.body.id]).toEqual([200, first.body.id]);
    const after = counts(await gateway());
    expect({
      dedup: after.dedup - before.dedup,
      misses: after.misses - before.misses,
      hits: after.hits - before.hits,
    }).toEqual({ dedup: 1, misses: 1, hits: 1 });
  });

  it('each scrape passes the exposition lint, with the service label on every series', async () => {
    for (const name of SERVICES) {
      const e = await scrape(stack.service(name).url);
      expect([name, lintExposition(e.text)]).toEqual([name, []]);
      expect([name, e.samples.filter((s) => s.labels['service'] !== name).map((s) => s.name)]).toEqual([
        name,
        [],
      ]);
    }
  });

  it('the check can fail: the lint rejects a malformed exposition', () => {
    const help = (n: string) => `# HELP ${n} h\n`;
    expect(
      lintExposition(`${help('switchyard_x_total')}# TYPE switchyard_x_total gauge\nswitchyard_x_total 1\n`),
    ).toEqual(['switchyard_x_total: non-counter with _total suffix']);
    expect(lintExposition(`${help('x')}# TYPE x counter\nx 1\n`)).toEqual([
      'x: counter without _total suffix',
    ]);
    expect(lintExposition('# TYPE y gauge\ny{a="1"} 1\ny{a="1"} 2\n')).toEqual([
      'duplicate series y{a="1"}',
      'y: no HELP',
    ]);
    expect(lintExposition(`${help('z')}# TYPE z gauge\nz{a=1} one\n`)).toEqual([
      'z: malformed labels {a=1}',
      'z: invalid value one',
    ]);
    expect(
      lintExposition(
        `${help('h_seconds')}# TYPE h_seconds histogram\nh_seconds_bucket{le="1"} 1\nh_seconds_sum 1\n`,
      ),
    ).toEqual(['h_seconds: no le="+Inf" bucket', 'h_seconds: no _count']);
    expect(
      lintExposition(`${help('d_milliseconds')}# TYPE d_milliseconds gauge\nd_milliseconds 1\n`),
    ).toEqual(['d_milliseconds: not in base units']);
    expect(() => parseExposition('not a metric line {')).toThrow(/unparsable/);
  });

  it('each service serves the families it owns', async () => {
    const owned: Record<ServiceName, string[]> = {
      gateway: [
        'switchyard_http_request_duration_seconds',
        'switchyard_rate_limited_total',
        'switchyard_cache_hits_total',
        'switchyard_cache_misses_total',
        'switchyard_dedup_hits_total',
      ],
      worker: ['switchyard_worker_active_jobs', 'switchyard_circuit_state'],
      'progress-tracker': ['switchyard_tracker_lag_seconds'],
      metrics: [
        'switchyard_jobs_submitted_total',
        'switchyard_tenant_jobs_submitted_total',
        'switchyard_jobs_completed_total',
        'switchyard_jobs_failed_total',
        'switchyard_jobs_cancelled_total',
        'switchyard_jobs_retried_total',
        'switchyard_jobs_dead_lettered_total',
        'switchyard_job_duration_seconds',
        'switchyard_job_wait_seconds',
        'switchyard_queue_depth',
        'switchyard_queue_consumers',
        'switchyard_queue_oldest_age_seconds',
        'switchyard_queue_paused',
      ],
    };
    for (const name of SERVICES) {
      const e = await scrape(stack.service(name).url);
      const missing = [
        ...owned[name],
        'process_resident_memory_bytes',
        'nodejs_eventloop_lag_p99_seconds',
      ].filter((family) => !e.families.has(family));
      expect([name, missing]).toEqual([name, []]);
    }
    const gateway = await scrape(stack.service('gateway').url);
    for (const scope of ['write', 'read', 'anon']) {
      expect(gateway.samples).toContainEqual(
        expect.objectContaining({
          name: 'switchyard_rate_limited_total',
          labels: { scope, service: 'gateway' },
        }),
      );
    }
  });

  it('every PromQL expression of the dashboard and the alert rules names only metrics the services expose', async () => {
    const exposed = new Set<string>(PROMETHEUS_SYNTHETIC);
    for (const name of SERVICES)
      for (const series of seriesNames(await scrape(stack.service(name).url))) exposed.add(series);
    const rabbitmq = new Set(metricList('rabbitmq', 'metrics.txt'));
    const known = (metric: string) =>
      exposed.has(metric) || (metric.startsWith('rabbitmq_') && rabbitmq.has(metric));

    const exprs = [...dashboardExprs(dashboard()), ...alertRules().map((rule) => rule.expr)];
    expect(exprs.length).toBeGreaterThanOrEqual(30);
    const unknown = exprs.flatMap((expr) =>
      metricNamesIn(expr)
        .filter((metric) => !known(metric))
        .map((m) => `${m} in ${expr}`),
    );
    expect(unknown).toEqual([]);

    // The list the static checks rely on is true of the running services too.
    expect(metricList('metrics.txt').filter((metric) => !exposed.has(metric))).toEqual([]);
    // And the check can fail.
    expect(known('switchyard_jobs_complted_total')).toBe(false);
  });
});
