import { Type, type Static } from '@sinclair/typebox';
import { PermanentError, type JobHandler, type JobTypeDefinition } from '@switchyard/handler-sdk';
import type { ProviderRegistry } from './provider-registry';

const NAME = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' });

export const ProviderGeneratePayloadSchema = Type.Object(
  {
    provider: NAME,
    operation: NAME,
    // Passed through to the provider as its request body; the request body limit bounds it.
    input: Type.Optional(
      Type.Record(Type.String({ maxLength: 200 }), Type.Unknown(), { maxProperties: 200, default: {} }),
    ),
  },
  { additionalProperties: false },
);
export type ProviderGeneratePayload = Static<typeof ProviderGeneratePayloadSchema>;

/**
 * provider.generate as the gateway sees it (SPEC §7). Not cacheable: providers need not be
 * deterministic. Rated by provider (`provider:<name>`): its jobs share the provider's rate budget
 * and a 429 from it holds them all.
 */
export const providerGenerateType: JobTypeDefinition<ProviderGeneratePayload> = {
  type: 'provider.generate',
  queue: 'generation',
  payloadSchema: ProviderGeneratePayloadSchema,
  defaults: { cacheable: false, long: true, rateKey: (payload) => `provider:${payload.provider}` },
};

const EXTENSIONS: Record<string, string> = {
  'application/json': 'json',
  'audio/mpeg': 'mp3',
  'audio/wav': 'wav',
  'audio/x-wav': 'wav',
  'audio/ogg': 'ogg',
  'audio/flac': 'flac',
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/webp': 'webp',
  'text/plain': 'txt',
};

/**
 * Calls an operation of a provider from PROVIDERS_FILE and stores what it answers (bytes, or the
 * polled job's JSON result) as the job's artifact with the provider's content type.
 */
export function createProviderGenerateHandler(deps: {
  providers: ProviderRegistry;
}): JobHandler<ProviderGeneratePayload> {
  return {
    ...providerGenerateType,
    async handle(ctx) {
      const { provider, operation, input = {} } = ctx.payload;
      const client = deps.providers.get(provider);
      if (!client) {
        throw new PermanentError(
          `unknown provider "${provider}"; configured: ${deps.providers.names().join(', ') || 'none'}`,
          'invalid_payload',
        );
      }
      const result = await client.run(operation, input ?? {}, ctx.signal, (percent, step, message) =>
        ctx.progress(percent, step, message),
      );
      ctx.usage(result.usage);
      ctx.progress(95, 'saving');
      const mediaType = result.contentType.split(';')[0].trim().toLowerCase();
      const artifact = await ctx.artifacts.put(
        `${provider}-${operation}.${EXTENSIONS[mediaType] ?? 'bin'}`,
        result.contentType,
        result.bytes,
      );
      return {
        result: {
          provider,
          operation,
          contentType: result.contentType,
          bytes: artifact.size,
          sha256: artifact.sha256,
          ...(result.providerJobId === undefined ? {} : { providerJobId: result.providerJobId }),
        },
        artifact,
      };
    },
  };
}
