import { createParamDecorator, SetMetadata, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { API_KEY_SCOPES, ApiError, type ApiKeyScope } from '@switchyard/contracts';

/** API key scopes (SPEC §4). `admin` implies the others and crosses tenants. */
export const SCOPES = API_KEY_SCOPES;
export type Scope = ApiKeyScope;

export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && (SCOPES as readonly string[]).includes(value);
}

/** Who is calling: set by AuthGuard on every authenticated /api/v1 request. */
export interface Caller {
  tenant: string;
  /** The API key's id; `bootstrap` for ADMIN_API_KEY. */
  keyId: string;
  scopes: Scope[];
  /** Holds the `admin` scope: may use the admin routes and see every tenant. */
  admin: boolean;
}

const callers = new WeakMap<FastifyRequest, Caller>();

export function setCaller(request: FastifyRequest, caller: Caller): void {
  callers.set(request, caller);
}

export function callerOf(request: FastifyRequest): Caller | undefined {
  return callers.get(request);
}

/**
 * The authenticated caller of a route: `@Caller() caller: Caller`. Throws 401 on a route the
 * guard let through without a key (a @Public() route), so a handler never runs as nobody.
 */
export const Caller = createParamDecorator((_data: unknown, context: ExecutionContext): Caller => {
  const caller = callerOf(context.switchToHttp().getRequest<FastifyRequest>());
  if (!caller) throw new ApiError('unauthorized', 'an API key is required');
  return caller;
});

/**
 * The tenant filter for lookups on behalf of `caller`: its tenant, or undefined (every tenant)
 * for admin keys. Repositories take `tenant?: string` with exactly this meaning, and a lookup
 * that finds nothing is a 404 whether the job does not exist or belongs to another tenant.
 */
export function tenantScope(caller: Caller): string | undefined {
  return caller.admin ? undefined : caller.tenant;
}

export const REQUIRED_SCOPE = 'switchyard:required-scope';
export const PUBLIC_ROUTE = 'switchyard:public-route';

/**
 * The scope a route needs. Without it, GET/HEAD need `jobs:read` and every other method
 * `jobs:write`; `admin` keys pass every check.
 */
export const RequireScope = (scope: Scope) => SetMetadata(REQUIRED_SCOPE, scope);

/** A /api/v1 route that needs no API key (health). */
export const Public = () => SetMetadata(PUBLIC_ROUTE, true);
