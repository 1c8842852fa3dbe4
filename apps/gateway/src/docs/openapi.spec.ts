import type { OpenAPIObject } from '@nestjs/swagger';
import { completeOpenApi, documentOperationalRoutes } from './openapi';

function document(): OpenAPIObject {
  return {
    openapi: '3.1.0',
    info: { title: 't', version: '1' },
    paths: {
      '/api/v1/jobs/{id}/events': {
        get: { responses: { '200': { description: 'ok' }, '404': { description: 'nf' } } },
      },
      '/api/v1/health': { get: { responses: { '200': { description: 'ok' } } } },
      '/metrics': { get: { responses: { '200': { description: 'ok' } } } },
    },
  };
}

describe('completeOpenApi', () => {
  it('adds the auth and rate-limit errors to every authenticated /api/v1 route, and its headers', () => {
    const doc = document();
    completeOpenApi(doc);
    const op = doc.paths['/api/v1/jobs/{id}/events'].get!;
    expect(op.operationId).toBe('getJobsIdEvents');
    expect(Object.keys(op.responses).sort()).toEqual(['200', '401', '403', '404', '429']);
    expect(op.responses['429']).toMatchObject({
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      headers: {
        'Retry-After': expect.anything() as unknown,
        'X-Correlation-Id': expect.anything() as unknown,
      },
    });
    expect(op.responses['200']).toMatchObject({
      headers: { 'RateLimit-Remaining': expect.anything() as unknown },
    });
    expect(op.parameters).toEqual([expect.objectContaining({ name: 'X-Correlation-Id', in: 'header' })]);
    expect(doc.security).toEqual([{ bearer: [] }, { apiKey: [] }]);
  });

  it('leaves health, metrics and docs open', () => {
    const doc = document();
    completeOpenApi(doc);
    for (const path of ['/api/v1/health', '/metrics']) {
      const op = doc.paths[path].get!;
      expect(op.security).toEqual([]);
      expect(Object.keys(op.responses)).toEqual(['200']);
    }
  });

  it('describes the shared health and metrics routes with their content', () => {
    const doc = document();
    doc.paths['/health/live'] = { get: { responses: { '200': { description: '' } } } };
    documentOperationalRoutes(doc);
    expect(doc.paths['/health/live'].get!.responses['200']).toMatchObject({
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Liveness' } } },
    });
    expect(doc.paths['/metrics'].get!.responses['200']).toMatchObject({
      content: { 'text/plain; version=0.0.4': { schema: { type: 'string' } } },
    });
  });
});
