import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { METRIC_PREFIX } from './metrics';

// SPEC §8 metrics that the gateway and the worker record themselves. Names and labels are what
// the dashboard and the alert rules read (infrastructure/metrics.txt): never rename them.
//
// Every factory is idempotent per registry: a second call returns the metrics the first one
// registered, so the service host can declare a service's families at start (they are scraped
// as 0 from the first scrape on, which is what rate() and increase() need) and the code that
// counts can still ask for typed handles wherever it is wired.

export const GATEWAY_METRIC_NAMES = {
  rateLimited: `${METRIC_PREFIX}rate_limited_total`,
  rateLimiterFailOpen: `${METRIC_PREFIX}rate_limiter_fail_open_total`,
  cacheHits: `${METRIC_PREFIX}cache_hits_total`,
  cacheMisses: `${METRIC_PREFIX}cache_misses_total`,
  dedupHits: `${METRIC_PREFIX}dedup_hits_total`,
} as const;

export const WORKER_METRIC_NAMES = {
  activeJobs: `${METRIC_PREFIX}worker_active_jobs`,
  circuitState: `${METRIC_PREFIX}circuit_state`,
  usage: `${METRIC_PREFIX}usage_total`,
} as const;

/** The limiters of SPEC §4: per API key for writes and for reads, per client IP when unauthenticated. */
export const RATE_LIMIT_SCOPES = ['write', 'read', 'anon'] as const;
export type RateLimitScope = (typeof RATE_LIMIT_SCOPES)[number];

/** `switchyard_circuit_state` values (SPEC §8): 0 closed, 1 half-open, 2 open. */
export const CIRCUIT_STATE_VALUES = { closed: 0, 'half-open': 1, open: 2 } as const;
export type CircuitStateName = keyof typeof CIRCUIT_STATE_VALUES;

export interface GatewayMetrics {
  /** Requests answered 429 `rate_limited`, by limiter scope (a batch counts once). */
  rateLimited: Counter<'scope'>;
  /** Requests let through without a rate-limit decision because Redis was unreachable. */
  rateLimiterFailOpen: Counter;
  /** Submissions answered from the result cache (200, `cached: true`). */
  cacheHits: Counter;
  /** Submissions of a cacheable type that found no cached result and created a job. */
  cacheMisses: Counter;
  /** Submissions answered with the job already accepted in the dedup window (200, `deduplicated: true`). */
  dedupHits: Counter;
}

export interface WorkerMetrics {
  /** Attempts running on this worker now, by job type. */
  activeJobs: Gauge<'type'>;
  /** One series per external provider: 0 closed, 1 half-open, 2 open. */
  circuitState: Gauge<'provider'>;
  /** Usage recorded by attempts on this worker (the ledger's units), by tenant and unit. */
  usage: Counter<'tenant' | 'unit'>;
  /** Counts one running attempt of `type`; call the returned function once when it ends. */
  trackActive(type: string): () => void;
  setCircuitState(provider: string, state: CircuitStateName): void;
}

export function createGatewayMetrics(registry: Registry): GatewayMetrics {
  const rateLimited = counter(
    registry,
    GATEWAY_METRIC_NAMES.rateLimited,
    'Requests refused with 429 rate_limited, by limiter scope',
    ['scope'],
  );
  for (const scope of RATE_LIMIT_SCOPES) rateLimited.inc({ scope }, 0);
  return {
    rateLimited,
    rateLimiterFailOpen: counter(
      registry,
      GATEWAY_METRIC_NAMES.rateLimiterFailOpen,
      'Requests let through unchecked because the rate limiter (Redis) was unavailable',
    ),
    cacheHits: counter(
      registry,
      GATEWAY_METRIC_NAMES.cacheHits,
      'Submissions answered from the result cache',
    ),
    cacheMisses: counter(
      registry,
      GATEWAY_METRIC_NAMES.cacheMisses,
      'Submissions of a cacheable job type that found no cached result',
    ),
    dedupHits: counter(
      registry,
      GATEWAY_METRIC_NAMES.dedupHits,
      'Submissions answered with an identical job accepted within the dedup window',
    ),
  };
}

/**
 * `known.types` and `known.providers` start their series at 0 (active jobs) and closed (circuits),
 * so a panel or alert sees them before the first job or the first state change.
 */
export function createWorkerMetrics(
  registry: Registry,
  known: { types?: readonly string[]; providers?: readonly string[] } = {},
): WorkerMetrics {
  const activeJobs = gauge(
    registry,
    WORKER_METRIC_NAMES.activeJobs,
    'Job attempts running on this worker, by type',
    ['type'],
  );
  const circuitState = gauge(
    registry,
    WORKER_METRIC_NAMES.circuitState,
    'Circuit breaker state per external provider: 0 closed, 1 half-open, 2 open',
    ['provider'],
  );
  const usage = counter(
    registry,
    WORKER_METRIC_NAMES.usage,
    'Usage recorded by job attempts (ctx.usage, provider usage, cpu_seconds, wall_seconds), by tenant and unit',
    ['tenant', 'unit'],
  );
  // inc by 0 creates a missing series without touching one that already has a value.
  for (const type of known.types ?? []) activeJobs.inc({ type }, 0);
  for (const provider of known.providers ?? []) circuitState.inc({ provider }, 0);
  return {
    activeJobs,
    circuitState,
    usage,
    trackActive(type) {
      activeJobs.inc({ type });
      let released = false;
      return () => {
        if (released) return;
        released = true;
        activeJobs.dec({ type });
      };
    },
    setCircuitState(provider, state) {
      circuitState.set({ provider }, CIRCUIT_STATE_VALUES[state]);
    },
  };
}

/**
 * Declares the families a service records itself (see above), by service name. The service host
 * calls it for every service, so each one exposes its families from its first scrape on.
 */
export function declareServiceMetrics(service: string, registry: Registry): void {
  if (service === 'gateway') createGatewayMetrics(registry);
  if (service === 'worker') createWorkerMetrics(registry);
}

// ------------------------------------------------------------------------------------------------
// Get-or-create: one metric per name and registry, and a clear error if the name is taken by
// another kind of metric.

export function counter<L extends string = never>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing !== undefined) return expectKind(existing, Counter, name);
  return new Counter<L>({ name, help, labelNames, registers: [registry] });
}

export function gauge<L extends string = never>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
): Gauge<L> {
  const existing = registry.getSingleMetric(name);
  if (existing !== undefined) return expectKind(existing, Gauge, name);
  return new Gauge<L>({ name, help, labelNames, registers: [registry] });
}

export function histogram<L extends string = never>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  buckets: number[],
): Histogram<L> {
  const existing = registry.getSingleMetric(name);
  if (existing !== undefined) return expectKind(existing, Histogram, name);
  return new Histogram<L>({ name, help, labelNames, buckets, registers: [registry] });
}

function expectKind<T>(metric: unknown, kind: abstract new (...args: never[]) => T, name: string): T {
  if (metric instanceof kind) return metric;
  throw new Error(`metric ${name} is already registered as another kind of metric`);
}
