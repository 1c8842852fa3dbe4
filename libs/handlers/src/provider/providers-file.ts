import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import Ajv from 'ajv';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_CIRCUIT_BREAKER_SETTINGS as BREAKER } from '@switchyard/resilience';

const NAME = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';

const PollSchema = Type.Object(
  {
    /** Path of the provider's status resource; `{id}` is replaced by the provider's job id. */
    statusPath: Type.String({ minLength: 1, pattern: '\\{id\\}' }),
    intervalMs: Type.Integer({ minimum: 10, maximum: 600000, default: 2000 }),
    /** Dot path of the provider's job id in the first answer. */
    idField: Type.String({ minLength: 1, default: 'id' }),
    /** Dot path of the field that says the provider's job is done. */
    doneField: Type.String({ minLength: 1 }),
    /** The value of `doneField` that means done; absent: any truthy value. */
    doneValue: Type.Optional(Type.Union([Type.String(), Type.Number(), Type.Boolean()])),
    /** Dot path of a field that, when truthy, says the provider's job failed (no retry helps). */
    errorField: Type.Optional(Type.String({ minLength: 1 })),
    /** Dot path of the result in the final status answer; stored as a JSON artifact. */
    resultField: Type.String({ minLength: 1 }),
  },
  { additionalProperties: false },
);

const OperationSchema = Type.Object(
  {
    path: Type.String({ minLength: 1, pattern: '^/' }),
    method: Type.Union(
      [Type.Literal('GET'), Type.Literal('POST'), Type.Literal('PUT'), Type.Literal('PATCH')],
      {
        default: 'POST',
      },
    ),
    poll: Type.Optional(PollSchema),
  },
  { additionalProperties: false },
);

const ProviderSchema = Type.Object(
  {
    baseUrl: Type.String({ pattern: '^https?://' }),
    auth: Type.Optional(
      Type.Object(
        {
          /** Header that carries the secret, e.g. `Authorization` or `X-API-Key`. */
          header: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9-]+$' }),
          /** Name of the environment variable that holds the secret (never the secret itself). */
          secretEnv: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }),
          /** Put before the secret with a space, e.g. `Bearer`. */
          scheme: Type.Optional(Type.String({ minLength: 1, pattern: '^[A-Za-z0-9._-]+$' })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Per HTTP request (each poll is one). */
    timeoutMs: Type.Integer({ minimum: 1, maximum: 3600000, default: 30000 }),
    maxResponseBytes: Type.Integer({ minimum: 1, maximum: 1073741824, default: 52428800 }),
    breaker: Type.Object(
      {
        failureThreshold: Type.Number({
          exclusiveMinimum: 0,
          maximum: 100,
          default: BREAKER.failureThreshold,
        }),
        volumeThreshold: Type.Integer({ minimum: 1, default: BREAKER.volumeThreshold }),
        rollingWindowMs: Type.Integer({ minimum: 100, default: BREAKER.rollingWindowMs }),
        resetTimeoutMs: Type.Integer({ minimum: 1, default: BREAKER.resetTimeoutMs }),
      },
      { additionalProperties: false, default: {} },
    ),
    operations: Type.Record(Type.String({ pattern: NAME }), OperationSchema, { minProperties: 1 }),
    /**
     * US dollars per unit of usage the provider reports (`tokens_in`, `tokens_out`, `requests`):
     * a job's `cost_usd` is the sum of its units times these prices.
     */
    pricing: Type.Optional(
      Type.Record(Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' }), Type.Number({ minimum: 0 }), {
        maxProperties: 32,
      }),
    ),
  },
  { additionalProperties: false },
);

export const ProvidersFileSchema = Type.Object(
  { providers: Type.Record(Type.String({ pattern: NAME }), ProviderSchema) },
  { additionalProperties: false },
);

export type ProviderConfig = Static<typeof ProviderSchema>;
export type ProviderOperation = Static<typeof OperationSchema>;
export type ProviderPoll = Static<typeof PollSchema>;
export type ProvidersFile = Static<typeof ProvidersFileSchema>;

export class ProvidersFileError extends Error {}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
const validate = ajv.compile<ProvidersFile>(ProvidersFileSchema);

/** Parses and checks a providers document (JSON, or YAML when `yaml`), filling in the defaults. */
export function parseProvidersFile(text: string, yaml: boolean, source = 'PROVIDERS_FILE'): ProvidersFile {
  let document: unknown;
  try {
    document = yaml ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    throw new ProvidersFileError(`${source} is not valid ${yaml ? 'YAML' : 'JSON'}: ${String(error)}`);
  }
  if (!validate(document)) {
    const problems = (validate.errors ?? []).map(
      (e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`,
    );
    throw new ProvidersFileError(`${source} is invalid: ${problems.join('; ')}`);
  }
  return document;
}

/** Reads PROVIDERS_FILE; `.yaml`/`.yml` files are YAML, anything else JSON. */
export async function loadProvidersFile(path: string): Promise<ProvidersFile> {
  const text = await readFile(path, 'utf8').catch((error: unknown) => {
    throw new ProvidersFileError(`cannot read PROVIDERS_FILE ${path}: ${String(error)}`);
  });
  return parseProvidersFile(text, ['.yaml', '.yml'].includes(extname(path).toLowerCase()), path);
}
