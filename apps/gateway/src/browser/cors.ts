import type { FastifyInstance } from 'fastify';
import type { ApiErrorBody } from '@switchyard/contracts';

/** The paths a token opens (GET): a job, its events, its result; a flow, its events. */
const TOKEN_PATH = /^\/api\/v1\/(jobs\/[^/]+(\/events|\/result)?|flows\/[^/]+(\/events)?)$/;
const EXPOSED = 'content-length, content-type, content-disposition, etag, x-correlation-id, retry-after';

/** CORS_ORIGINS (comma-separated) as a set of exact origins. */
export function parseCorsOrigins(value: string): Set<string> {
  return new Set(
    value
      .split(',')
      .map((origin) => origin.trim().replace(/\/$/, ''))
      .filter(Boolean),
  );
}

/**
 * CORS for the token routes only (auth.guard.ts TOKEN_ROUTES), and only for the origins in
 * CORS_ORIGINS (none by default): a listed origin's GET gets `Access-Control-Allow-Origin`, and its
 * preflight 204. Every other OPTIONS request is 404, and no other route or origin ever gets a CORS
 * header, so a page on another origin cannot call the API with a key.
 */
export function registerCors(fastify: FastifyInstance, origins: ReadonlySet<string>): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    const origin = request.headers.origin;
    const path = request.url.split('?')[0] ?? '';
    const allowed = origin !== undefined && origins.has(origin) && TOKEN_PATH.test(path);
    if (request.method === 'OPTIONS') {
      const wanted = request.headers['access-control-request-method'];
      if (allowed && (wanted === 'GET' || wanted === undefined)) {
        void reply
          .code(204)
          .headers({
            'access-control-allow-origin': origin,
            'access-control-allow-methods': 'GET',
            'access-control-allow-headers': 'last-event-id, cache-control',
            'access-control-max-age': '600',
            vary: 'Origin',
          })
          .send();
        return;
      }
      const body: ApiErrorBody = {
        error: { code: 'not_found', message: 'not found', details: [], correlationId: String(request.id) },
      };
      void reply.code(404).send(body);
      return;
    }
    if (allowed && (request.method === 'GET' || request.method === 'HEAD')) {
      void reply.headers({
        'access-control-allow-origin': origin,
        'access-control-expose-headers': EXPOSED,
        vary: 'Origin',
      });
    }
    done();
  });
}
