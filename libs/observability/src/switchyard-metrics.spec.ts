import { Counter, Registry } from 'prom-client';
import {
  counter,
  createGatewayMetrics,
  createWorkerMetrics,
  declareServiceMetrics,
  GATEWAY_METRIC_NAMES,
  WORKER_METRIC_NAMES,
} from './switchyard-metrics';

const samples = async (registry: Registry) =>
  (await registry.metrics()).split('\n').filter((line) => line && !line.startsWith('#'));

describe('gateway and worker metrics', () => {
  it('declares the gateway families at 0, one rate-limit series per scope', async () => {
    const registry = new Registry();
    declareServiceMetrics('gateway', registry);
    expect(await samples(registry)).toEqual([
      'switchyard_rate_limited_total{scope="write"} 0',
      'switchyard_rate_limited_total{scope="read"} 0',
      'switchyard_rate_limited_total{scope="anon"} 0',
      'switchyard_rate_limiter_fail_open_total 0',
      'switchyard_cache_hits_total 0',
      'switchyard_cache_misses_total 0',
      'switchyard_dedup_hits_total 0',
    ]);
    expect(registry.getMetricsAsArray().map((m) => m.name)).toEqual(Object.values(GATEWAY_METRIC_NAMES));
  });

  it('hands out the same metrics on every call, so counts wired later land in the declared families', async () => {
    const registry = new Registry();
    declareServiceMetrics('gateway', registry);
    const gateway = createGatewayMetrics(registry);
    gateway.cacheHits.inc();
    gateway.rateLimited.inc({ scope: 'write' });
    expect(createGatewayMetrics(registry).cacheHits).toBe(gateway.cacheHits);
    expect(await samples(registry)).toEqual(
      expect.arrayContaining([
        'switchyard_cache_hits_total 1',
        'switchyard_rate_limited_total{scope="write"} 1',
      ]),
    );
  });

  it('tracks active jobs per type and circuit states per provider', async () => {
    const registry = new Registry();
    declareServiceMetrics('worker', registry);
    const worker = createWorkerMetrics(registry, {
      types: ['synthetic', 'audio.generate'],
      providers: ['acme'],
    });
    const release = worker.trackActive('synthetic');
    worker.trackActive('synthetic');
    release();
    release(); // idempotent
    worker.setCircuitState('acme', 'open');
    worker.setCircuitState('other', 'half-open');
    expect(await samples(registry)).toEqual([
      'switchyard_worker_active_jobs{type="synthetic"} 1',
      'switchyard_worker_active_jobs{type="audio.generate"} 0',
      'switchyard_circuit_state{provider="acme"} 2',
      'switchyard_circuit_state{provider="other"} 1',
    ]);
    // Known series are created without resetting the ones already counting.
    createWorkerMetrics(registry, { types: ['synthetic'], providers: ['acme'] });
    expect(await samples(registry)).toContain('switchyard_worker_active_jobs{type="synthetic"} 1');
    expect(await samples(registry)).toContain('switchyard_circuit_state{provider="acme"} 2');
    expect(registry.getMetricsAsArray().map((m) => m.name)).toEqual(Object.values(WORKER_METRIC_NAMES));
  });

  it('declares nothing for services that record no such metrics', () => {
    const registry = new Registry();
    declareServiceMetrics('progress-tracker', registry);
    expect(registry.getMetricsAsArray()).toEqual([]);
  });

  it('refuses a name already registered as another kind of metric', () => {
    const registry = new Registry();
    const existing = counter(registry, 'x_total', 'x');
    expect(existing).toBeInstanceOf(Counter);
    expect(counter(registry, 'x_total', 'x')).toBe(existing);
    counter(registry, 'switchyard_worker_active_jobs', 'wrong kind');
    expect(() => createWorkerMetrics(registry)).toThrow(/another kind of metric/);
  });
});
