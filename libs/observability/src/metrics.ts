import { collectDefaultMetrics, Registry } from 'prom-client';

export const METRIC_PREFIX = 'switchyard_';

/** One registry per service, with Node process metrics and a `service` label on every series. */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}
