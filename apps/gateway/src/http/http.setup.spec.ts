import Fastify, { type FastifyInstance } from 'fastify';
import { answerUnknownMethods, registerBodyParsers } from './http.setup';

async function server(): Promise<FastifyInstance> {
  const fastify = Fastify();
  registerBodyParsers(fastify);
  answerUnknownMethods(fastify);
  fastify.get('/api/v1/jobs/:id', () => ({ got: true }));
  fastify.delete('/api/v1/jobs/:id', () => ({ deleted: true }));
  fastify.post('/api/v1/jobs/:id/cancel', (request) => ({ body: request.body ?? null }));
  await fastify.ready();
  return fastify;
}

describe('the gateway HTTP setup', () => {
  let fastify: FastifyInstance;
  beforeAll(async () => {
    fastify = await server();
  });
  afterAll(() => fastify.close());

  it('takes an empty body sent as JSON for no body', async () => {
    for (const method of ['POST', 'DELETE'] as const) {
      const url = method === 'POST' ? '/api/v1/jobs/1/cancel' : '/api/v1/jobs/1';
      const response = await fastify.inject({ method, url, headers: { 'content-type': 'application/json' } });
      expect([method, response.statusCode]).toEqual([method, 200]);
    }
    const parsed = await fastify.inject({
      method: 'POST',
      url: '/api/v1/jobs/1/cancel',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      payload: '{"a":1}',
    });
    expect(parsed.json()).toEqual({ body: { a: 1 } });
    const malformed = await fastify.inject({
      method: 'POST',
      url: '/api/v1/jobs/1/cancel',
      headers: { 'content-type': 'application/json' },
      payload: '{',
    });
    expect(malformed.statusCode).toBe(400);
  });

  it('answers 405 with Allow on a known path, 404 on an unknown one', async () => {
    const response = await fastify.inject({ method: 'PUT', url: '/api/v1/jobs/1?x=1' });
    expect(response.statusCode).toBe(405);
    expect(response.headers['allow']).toBe('DELETE, GET, HEAD');
    expect(response.json()).toEqual({
      error: {
        code: 'method_not_allowed',
        message: expect.stringContaining('PUT') as unknown,
        details: [],
        correlationId: expect.any(String) as unknown,
      },
    });
    expect((await fastify.inject({ method: 'GET', url: '/api/v1/jobs/1/cancel' })).headers['allow']).toBe(
      'POST',
    );
    expect((await fastify.inject({ method: 'GET', url: '/api/v1/nothing' })).statusCode).toBe(404);
    expect((await fastify.inject({ method: 'PUT', url: '/api/v1/jobs' })).statusCode).toBe(404);
  });
});
