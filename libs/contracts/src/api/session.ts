import { Type, type Static } from '@sinclair/typebox';
import { API_KEY_SCOPES } from './admin';
import { isoTime, literals } from './schema';

/** The console's session cookie: HttpOnly, SameSite=Strict, signed. Never rename it. */
export const SESSION_COOKIE = 'switchyard_session';
/**
 * The header every state-changing call made with the session cookie must carry (any value): a
 * cross-site form or a page on another origin cannot set it (CORS never allows it).
 */
export const CSRF_HEADER = 'x-switchyard-csrf';

/** `POST /session`: the API key to sign in with. */
export const SessionRequestSchema = Type.Object(
  { apiKey: Type.String({ minLength: 1, maxLength: 200 }) },
  { title: 'SessionRequest', additionalProperties: false },
);
export type SessionRequest = Static<typeof SessionRequestSchema>;

/** Who the session (or the presented key) stands for. */
export const SessionSchema = Type.Object(
  {
    tenant: Type.String(),
    keyId: Type.String(),
    scopes: Type.Array(literals(API_KEY_SCOPES)),
    admin: Type.Boolean(),
    expiresAt: Type.Union([isoTime(), Type.Null()], {
      description: 'null when a key, not a session, is presented',
    }),
    csrfHeader: Type.String({ description: 'the header state-changing calls with the cookie must carry' }),
    traceUrl: Type.Union([Type.String(), Type.Null()], {
      description:
        'TRACE_UI_URL: a trace UI’s page with `{traceId}` where a job’s `traceId` goes; null when none is configured',
    }),
  },
  { title: 'Session' },
);
export type Session = Static<typeof SessionSchema>;
