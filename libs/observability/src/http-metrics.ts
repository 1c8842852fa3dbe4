import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import { METRIC_PREFIX } from './metrics';
import { histogram as histogramIn } from './switchyard-metrics';

export const HTTP_REQUEST_DURATION_SECONDS = `${METRIC_PREFIX}http_request_duration_seconds`;

/** From a cache hit (sub-millisecond) to a slow upload; SSE streams land in +Inf. */
export const HTTP_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Route label of a request that matched no route, so unknown paths cannot grow the label set. */
export const UNMATCHED_ROUTE = 'unmatched';

export type HttpResponseObserver = (request: FastifyRequest, reply: FastifyReply, durationMs: number) => void;

/**
 * `switchyard_http_request_duration_seconds{method,route,status}` in `registry`, and the
 * `onResponse` callback that records it. The route is the template (`/api/v1/jobs/:id`), never the
 * raw URL, which would make one series per job id. Calling it twice on one registry shares the
 * histogram.
 */
export function createHttpMetrics(registry: Registry): HttpResponseObserver {
  const histogram = histogramIn(
    registry,
    HTTP_REQUEST_DURATION_SECONDS,
    'HTTP request duration by method, route template and status code',
    ['method', 'route', 'status'],
    HTTP_DURATION_BUCKETS,
  );
  return (request, reply, durationMs) => {
    histogram.observe(
      {
        method: request.method,
        route: request.routeOptions?.url ?? UNMATCHED_ROUTE,
        status: String(reply.statusCode),
      },
      durationMs / 1000,
    );
  };
}
