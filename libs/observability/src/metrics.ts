import { collectDefaultMetrics, Registry } from 'prom-client';

export const METRIC_PREFIX = 'switchyard_';

/**
 * prom-client's gauges named like counters; `promtool check metrics` rejects them, and each is
 * the sum of the per-type gauge of the same name without `_total` (e.g. nodejs_active_handles).
 */
const MISNAMED_DEFAULT_METRICS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** One registry per service, with Node process metrics and a `service` label on every series. */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  for (const name of MISNAMED_DEFAULT_METRICS) registry.removeSingleMetric(name);
  return registry;
}
