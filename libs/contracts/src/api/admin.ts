import { Type, type Static } from '@sinclair/typebox';
import { isoTime, literals, nullable } from './schema';

/** API key scopes (SPEC §4): never rename them, stored keys carry them. */
export const API_KEY_SCOPES = ['jobs:read', 'jobs:write', 'admin'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

export const TENANT_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$';

/** `POST /admin/api-keys`. */
export const ApiKeyRequestSchema = Type.Object(
  {
    tenant: Type.String({ pattern: TENANT_PATTERN, description: 'letters, digits, . _ -; at most 100' }),
    name: Type.String({ minLength: 1, maxLength: 200 }),
    scopes: Type.Array(literals(API_KEY_SCOPES), {
      minItems: 1,
      maxItems: API_KEY_SCOPES.length,
      uniqueItems: true,
    }),
  },
  { title: 'ApiKeyRequest', additionalProperties: false },
);
export type ApiKeyRequest = Static<typeof ApiKeyRequestSchema>;

/** What is public of an API key: everything but the key itself (only its SHA-256 is stored). */
const apiKeyFields = {
  id: Type.String({ format: 'uuid' }),
  tenant: Type.String(),
  name: Type.String(),
  scopes: Type.Array(literals(API_KEY_SCOPES)),
  createdAt: isoTime(),
};

/** `POST /admin/api-keys`: the one answer that carries the key. */
export const ApiKeyCreatedSchema = Type.Object(
  { ...apiKeyFields, key: Type.String({ description: 'shown once; only its SHA-256 is stored' }) },
  { title: 'ApiKeyCreated' },
);
export type ApiKeyCreated = Static<typeof ApiKeyCreatedSchema>;

/** One row of `GET /admin/api-keys`. */
export const ApiKeyViewSchema = Type.Object({ ...apiKeyFields, revokedAt: nullable(isoTime()) });
export type ApiKeyView = Static<typeof ApiKeyViewSchema>;

/** `GET /admin/api-keys`: the keys without the keys themselves. */
export const ApiKeyListSchema = Type.Object({ items: Type.Array(ApiKeyViewSchema) }, { title: 'ApiKeyList' });
export type ApiKeyList = Static<typeof ApiKeyListSchema>;

/** `POST /admin/cleanup`. */
export const CleanupRequestSchema = Type.Object(
  { olderThanDays: Type.Integer({ minimum: 0, maximum: 36500 }) },
  { title: 'CleanupRequest', additionalProperties: false },
);
export type CleanupRequest = Static<typeof CleanupRequestSchema>;

export const CleanupResultSchema = Type.Object(
  {
    deleted: Type.Integer({
      minimum: 0,
      description: 'terminal jobs purged (with their events and artifacts)',
    }),
  },
  { title: 'CleanupResult' },
);
export type CleanupResult = Static<typeof CleanupResultSchema>;
