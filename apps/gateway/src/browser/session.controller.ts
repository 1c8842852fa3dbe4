import { Body, Controller, Delete, Get, HttpCode, Inject, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, CSRF_HEADER, SessionRequestSchema, type Session } from '@switchyard/contracts';
import { ApiKeysService } from '../auth/api-keys.service';
import { presentedKey } from '../auth/api-key';
import { Public, type Caller } from '../auth/caller';
import { RateLimitService } from '../auth/rate-limit.service';
import { sessionCookie, sessionSetCookie, SessionsService, SESSION_TTL_S } from '../auth/sessions.service';
import { ApiErrors, ApiJson, ApiJsonBody, ApiNoContent, ApiRoute } from '../docs/api-docs';
import { GATEWAY_CONFIG, type GatewayConfig } from '../gateway.tokens';
import { bodyParser } from '../http/body';

const parseRequest = bodyParser(SessionRequestSchema);

/** The web console's sign-in: an API key exchanged for a session cookie (SPEC §11, `/ui`). */
@Controller('api/v1/session')
export class SessionController {
  constructor(
    private readonly keys: ApiKeysService,
    private readonly sessions: SessionsService,
    private readonly limits: RateLimitService,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {}

  @Post()
  @Public()
  @HttpCode(201)
  @ApiRoute(
    'session',
    'Sign in to the console with an API key',
    `Sets an HttpOnly, SameSite=Strict cookie signed under the key (8 h; revoking the key ends it within 5 s). ` +
      `The REST API and its SSE streams accept the cookie; state-changing calls made with it, and this sign-in, ` +
      `need the \`${CSRF_HEADER}\` header (any value), or they are 403. Clients that send a key are unaffected.`,
  )
  @ApiJsonBody('SessionRequest')
  @ApiJson(201, 'signed in; Set-Cookie carries the session', 'Session')
  @ApiErrors(400, 401, 403)
  async signIn(
    @Body() body: unknown,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Session> {
    const { apiKey } = parseRequest(body);
    const caller = await this.keys.authenticate(apiKey);
    if (!caller) {
      await this.limits.check('anon', request.ip, reply);
      throw new ApiError('unauthorized', 'the API key is not valid (unknown or revoked)');
    }
    const session = await this.sessions.mint(caller);
    void reply.header(
      'set-cookie',
      sessionSetCookie(session.value, SESSION_TTL_S, request.protocol === 'https'),
    );
    return this.view(caller, session.expiresAt);
  }

  @Get()
  @Public()
  @ApiRoute(
    'session',
    'Who is signed in',
    'The key presented, or else the console session cookie: tenant, scopes, expiry. 204 when neither is valid, ' +
      'so the console asks for a key without an error.',
  )
  @ApiJson(200, 'the caller', 'Session')
  @ApiNoContent('nobody is signed in (no key or session, or an expired or revoked one)')
  async whoAmI(
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Session | undefined> {
    const key = presentedKey(request.headers);
    const value = key === undefined ? sessionCookie(request.headers.cookie) : undefined;
    const session = value === undefined ? null : await this.sessions.check(value);
    const caller = key !== undefined ? await this.keys.authenticate(key) : (session?.caller ?? null);
    if (!caller) {
      await this.limits.check('anon', request.ip, reply);
      void reply.status(204);
      return undefined;
    }
    await this.limits.check('read', caller.keyId, reply);
    return this.view(caller, session?.expiresAt ?? null);
  }

  private view(caller: Caller, expiresAt: Date | null): Session {
    return {
      tenant: caller.tenant,
      keyId: caller.keyId,
      scopes: caller.scopes,
      admin: caller.admin,
      expiresAt: expiresAt?.toISOString() ?? null,
      csrfHeader: CSRF_HEADER,
      traceUrl: this.config.TRACE_UI_URL ?? null,
    };
  }

  @Delete()
  @Public()
  @HttpCode(204)
  @ApiRoute(
    'session',
    'Sign out of the console',
    'Clears the session cookie (revoke the key to end every session).',
  )
  @ApiNoContent('signed out')
  signOut(@Req() request: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply): void {
    void reply.header('set-cookie', sessionSetCookie('', 0, request.protocol === 'https'));
  }
}
