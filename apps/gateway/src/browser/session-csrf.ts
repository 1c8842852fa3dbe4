import type { FastifyInstance } from 'fastify';
import { CSRF_HEADER, type ApiErrorBody } from '@switchyard/contracts';
import { presentedKey } from '../auth/api-key';
import { sessionCookie } from '../auth/sessions.service';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const SIGN_IN = '/api/v1/session';

/**
 * CSRF guard of the console session, before any body is read: a state-changing /api/v1 call that
 * relies on the session cookie (no key in a header) must carry X-Switchyard-CSRF, which a
 * cross-site form cannot send and a page on another origin cannot either (CORS never allows the
 * header), and must not come from another site (Sec-Fetch-Site). Signing in needs it too, so no
 * other site can sign a browser in with its own key. Clients sending a key are unaffected.
 */
export function registerSessionCsrf(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    const path = request.url.split('?')[0] ?? '';
    if (SAFE_METHODS.has(request.method) || !path.startsWith('/api/v1/') || presentedKey(request.headers)) {
      done();
      return;
    }
    const withSession = sessionCookie(request.headers.cookie) !== undefined || path === SIGN_IN;
    const marked = typeof request.headers[CSRF_HEADER] === 'string' && request.headers[CSRF_HEADER] !== '';
    const crossSite = request.headers['sec-fetch-site'] === 'cross-site';
    if (!withSession || (marked && !crossSite)) {
      done();
      return;
    }
    const body: ApiErrorBody = {
      error: {
        code: 'forbidden',
        message: `a state-changing call with the console session needs the ${CSRF_HEADER} header and the console's own origin`,
        details: [],
        correlationId: String(request.id),
      },
    };
    void reply.code(403).send(body);
  });
}
