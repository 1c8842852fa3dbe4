import Fastify from 'fastify';
import { registerSessionCsrf } from './session-csrf';

async function server() {
  const fastify = Fastify();
  registerSessionCsrf(fastify);
  fastify.all('/api/v1/*', () => ({ ok: true }));
  await fastify.ready();
  return fastify;
}

describe('the console session CSRF guard', () => {
  it('refuses state-changing calls with the session cookie unless they carry the header, same-site', async () => {
    const fastify = await server();
    const post = (headers: Record<string, string>, url = '/api/v1/jobs/x/cancel') =>
      fastify.inject({ method: 'POST', url, headers }).then((r) => r.statusCode);
    const cookie = { cookie: 'switchyard_session=sys1.a.b' };
    expect(await post(cookie)).toBe(403);
    expect(await post({ ...cookie, 'x-switchyard-csrf': '1', 'sec-fetch-site': 'cross-site' })).toBe(403);
    expect(await post({ ...cookie, 'x-switchyard-csrf': '1', 'sec-fetch-site': 'same-origin' })).toBe(200);
    // Signing in needs the header too; a key in a header, or no cookie at all, is not its business.
    expect(await post({}, '/api/v1/session')).toBe(403);
    expect(await post({ ...cookie, authorization: 'Bearer sy_x' })).toBe(200);
    expect(await post({})).toBe(200);
    const read = await fastify.inject({ method: 'GET', url: '/api/v1/jobs', headers: cookie });
    expect(read.statusCode).toBe(200);
    const refused = await fastify.inject({ method: 'DELETE', url: '/api/v1/jobs/x', headers: cookie });
    expect(refused.json()).toMatchObject({ error: { code: 'forbidden' } });
    await fastify.close();
  });
});
