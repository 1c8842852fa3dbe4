import type { FastifyReply, FastifyRequest } from 'fastify';
import { Registry } from 'prom-client';
import { createHttpMetrics } from './http-metrics';

const request = (method: string, url: string | undefined) =>
  ({ method, url: '/raw', routeOptions: { url } }) as unknown as FastifyRequest;
const reply = (statusCode: number) => ({ statusCode }) as unknown as FastifyReply;

describe('createHttpMetrics', () => {
  it('records method, route template and status; unmatched requests share one route label', async () => {
    const registry = new Registry();
    const record = createHttpMetrics(registry);
    record(request('GET', '/api/v1/jobs/:id'), reply(200), 3);
    record(request('GET', '/api/v1/jobs/:id'), reply(200), 40);
    record(request('GET', undefined), reply(404), 1);
    const text = await registry.metrics();
    expect(text).toContain(
      'switchyard_http_request_duration_seconds_count{method="GET",route="/api/v1/jobs/:id",status="200"} 2',
    );
    expect(text).toContain(
      'switchyard_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/v1/jobs/:id",status="200"} 1',
    );
    expect(text).toContain(
      'switchyard_http_request_duration_seconds_sum{method="GET",route="/api/v1/jobs/:id",status="200"} 0.043',
    );
    expect(text).toContain(
      'switchyard_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"} 1',
    );
    expect(text).not.toContain('/raw');
  });

  it('shares one histogram per registry', async () => {
    const registry = new Registry();
    createHttpMetrics(registry)(request('POST', '/api/v1/jobs'), reply(202), 2);
    createHttpMetrics(registry)(request('POST', '/api/v1/jobs'), reply(202), 2);
    expect(await registry.metrics()).toContain(
      'switchyard_http_request_duration_seconds_count{method="POST",route="/api/v1/jobs",status="202"} 2',
    );
  });
});
