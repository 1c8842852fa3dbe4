import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '@switchyard/contracts';
import { correlation } from '@switchyard/observability';
import { RateLimitService } from './rate-limit.service';
import { presentedKey } from './api-key';
import { ApiKeysService } from './api-keys.service';
import { JobTokensService, type TokenTarget } from './job-tokens.service';
import { sessionCookie, SessionsService } from './sessions.service';
import { PUBLIC_ROUTE, REQUIRED_SCOPE, setCaller, type Caller, type Scope } from './caller';

export const API_PREFIX = '/api/v1/';
/** The one route that takes a body other than JSON. */
export const UPLOAD_ROUTE = '/api/v1/files';
/**
 * The routes a token (`?token=`) opens, for GET only, and the kind of token each takes: a job
 * token its job, its events, its result; a flow token its flow and the flow's events.
 */
export const TOKEN_ROUTES: ReadonlyMap<string, TokenTarget['kind']> = new Map([
  ['/api/v1/jobs/:id', 'job'],
  ['/api/v1/jobs/:id/events', 'job'],
  ['/api/v1/jobs/:id/result', 'job'],
  ['/api/v1/flows/:id', 'flow'],
  ['/api/v1/flows/:id/events', 'flow'],
]);

interface RouteAccess {
  public: boolean;
  scope: Scope | undefined;
}

/**
 * Every /api/v1 route: authenticate the API key, check the route's scope, then rate-limit (one
 * Redis round trip). Health, metrics and docs stay open. Unauthenticated requests are limited
 * per client IP before they get their 401, which also slows down anyone guessing keys.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  /** Per controller and route handler: its @Public() and @RequireScope() metadata. */
  private readonly access = new WeakMap<object, WeakMap<object, RouteAccess>>();

  constructor(
    private readonly reflector: Reflector,
    private readonly keys: ApiKeysService,
    private readonly limits: RateLimitService,
    private readonly tokens: JobTokensService,
    private readonly sessions: SessionsService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const route = request.routeOptions.url ?? request.url;
    if (!route.startsWith(API_PREFIX)) return true;
    const access = this.accessOf(context);
    if (access.public) return true;

    const key = presentedKey(request.headers);
    const token = key === undefined ? tokenParameter(request) : undefined;
    if (token !== undefined) return this.admitToken(token, route, request, reply);
    // The console's session cookie, when neither a key nor a token is presented (the CSRF header
    // of state-changing calls is checked before the body is read: browser/session-csrf.ts).
    const session = key === undefined ? sessionCookie(request.headers.cookie) : undefined;
    const caller =
      key !== undefined
        ? await this.keys.authenticate(key)
        : session !== undefined
          ? ((await this.sessions.check(session))?.caller ?? null)
          : null;
    if (!caller) {
      await this.limits.check('anon', request.ip, reply);
      throw new ApiError(
        'unauthorized',
        key !== undefined
          ? 'the API key is not valid (unknown or revoked)'
          : session !== undefined
            ? 'the console session has expired or its API key was revoked: sign in again'
            : 'an API key is required: Authorization: Bearer <key> or X-API-Key: <key>',
        [],
        { 'www-authenticate': 'Bearer realm="switchyard"' },
      );
    }
    const required =
      access.scope ?? (request.method === 'GET' || request.method === 'HEAD' ? 'jobs:read' : 'jobs:write');
    if (!hasScope(caller, required)) {
      throw new ApiError('forbidden', `this API key lacks the "${required}" scope`);
    }
    // JSON everywhere but uploads: the multipart parser accepts any route, so refuse it here.
    const contentType = request.headers['content-type'] ?? '';
    if (contentType.startsWith('multipart/') && route !== UPLOAD_ROUTE) {
      throw new ApiError('unsupported_media_type', 'this route takes application/json');
    }
    setCaller(request, caller);
    correlation.assign({ tenant: caller.tenant });
    const isWrite = request.method !== 'GET' && request.method !== 'HEAD';
    await this.limits.check(isWrite ? 'write' : 'read', caller.keyId, reply);
    return true;
  }

  /**
   * A route's @Public() and @RequireScope() metadata, read once per handler (route metadata is
   * fixed once the app is built), not through the reflector on every request.
   */
  private accessOf(context: ExecutionContext): RouteAccess {
    const handler = context.getHandler();
    const controller = context.getClass();
    let byHandler = this.access.get(controller);
    if (!byHandler) this.access.set(controller, (byHandler = new WeakMap()));
    let access = byHandler.get(handler);
    if (!access) {
      const targets = [handler, controller];
      access = {
        public: Boolean(this.reflector.getAllAndOverride<boolean | undefined>(PUBLIC_ROUTE, targets)),
        scope: this.reflector.getAllAndOverride<Scope | undefined>(REQUIRED_SCOPE, targets),
      };
      byHandler.set(handler, access);
    }
    return access;
  }

  /**
   * A browser's job or flow token: read-only, only on the TOKEN_ROUTES of its kind (elsewhere 401),
   * only for its own job or flow (another id is 404, as for a job of another tenant); invalid,
   * revoked or expired is 401.
   */
  private async admitToken(
    token: string,
    route: string,
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<boolean> {
    const kind = request.method === 'GET' ? TOKEN_ROUTES.get(route) : undefined;
    const checked = kind === undefined ? undefined : await this.tokens.check(token);
    if (!checked?.ok || checked.target.kind !== kind) {
      await this.limits.check('anon', request.ip, reply);
      throw new ApiError(
        'unauthorized',
        checked?.ok === false
          ? checked.reason === 'expired'
            ? 'the token has expired'
            : 'the token is not valid (malformed, or its API key was revoked)'
          : 'job tokens are accepted only on GET /jobs/{id}, /jobs/{id}/events and /jobs/{id}/result, ' +
              'flow tokens only on GET /flows/{id} and /flows/{id}/events',
      );
    }
    const id = (request.params as Record<string, string | undefined>)['id'] ?? '';
    if (checked.target.id !== id) throw new ApiError('not_found', `${kind} ${id} not found`);
    setCaller(request, checked.caller);
    correlation.assign({ tenant: checked.caller.tenant });
    await this.limits.check('read', checked.caller.keyId, reply);
    return true;
  }
}

/** `?token=` of the query string, when there is one. */
function tokenParameter(request: FastifyRequest): string | undefined {
  const query = request.query as Record<string, unknown> | undefined;
  const token = query?.['token'];
  return typeof token === 'string' && token !== '' ? token : undefined;
}

export function hasScope(caller: Caller, scope: Scope): boolean {
  return caller.admin || caller.scopes.includes(scope);
}
