import { Type, type Static } from '@sinclair/typebox';
import type { JobHandler, JobTypeDefinition } from '@switchyard/handler-sdk';
import type { AudioEngine } from './audio-engine';
import { createSynth } from './synth';
import { suggestFilename } from './tags';

export const AudioGeneratePayloadSchema = Type.Object(
  {
    prompt: Type.String({ minLength: 1, maxLength: 500 }),
    durationSec: Type.Number({ minimum: 1, maximum: 120 }),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647 })),
  },
  { additionalProperties: false },
);
export type AudioGeneratePayload = Static<typeof AudioGeneratePayloadSchema>;

/** audio.generate as the gateway sees it (SPEC §7). */
export const audioGenerateType: JobTypeDefinition<AudioGeneratePayload> = {
  type: 'audio.generate',
  queue: 'generation',
  payloadSchema: AudioGeneratePayloadSchema,
  defaults: { cacheable: true, timeoutMs: 300000 },
};

export const GENERATED_SAMPLE_RATE = 44100;
export const GENERATED_CHANNELS = 2;
/** One second of audio per chunk: progress about every 30 ms of rendering on a 2-core machine. */
const CHUNK_FRAMES = GENERATED_SAMPLE_RATE;
/** Progress events are coalesced to at most one per this interval (each is an AMQP publish). */
const PROGRESS_INTERVAL_MS = 200;

/**
 * A WAV rendered by the deterministic local synthesiser: the same prompt and seed give the same
 * bytes on every worker. Rendering runs on the audio engine's threads, chunk by chunk; a cancel
 * or timeout stops it at once and frees the thread.
 */
export function createAudioGenerateHandler(deps: { audio: AudioEngine }): JobHandler<AudioGeneratePayload> {
  return {
    ...audioGenerateType,
    async handle(ctx) {
      const { prompt, durationSec, seed = 0 } = ctx.payload;
      ctx.progress(0, 'loading_model');
      const options = {
        prompt,
        durationSec,
        seed,
        sampleRate: GENERATED_SAMPLE_RATE,
        channels: GENERATED_CHANNELS as 1 | 2,
        chunkFrames: CHUNK_FRAMES,
      };
      ctx.progress(2, 'encoding_prompt');
      // Composing the plan is cheap (no samples); it is reported with the artifact.
      const { plan } = createSynth(options);
      ctx.progress(5, 'generating');
      let lastReport = Date.now();
      const wav = await deps.audio.generate(options, ctx.signal, (framesDone, totalFrames) => {
        const now = Date.now();
        if (now - lastReport < PROGRESS_INTERVAL_MS && framesDone < totalFrames) return;
        lastReport = now;
        ctx.progress(5 + (85 * framesDone) / totalFrames, 'generating');
      });
      ctx.signal.throwIfAborted();
      ctx.progress(90, 'saving');
      const name = suggestFilename({ title: prompt.slice(0, 80) }, 'generated', 'wav');
      const artifact = await ctx.artifacts.put(name, 'audio/wav', wav);
      ctx.progress(100, 'saving');
      return {
        result: {
          format: {
            container: 'WAVE',
            codec: 'PCM',
            sampleRate: GENERATED_SAMPLE_RATE,
            channels: GENERATED_CHANNELS,
            bitsPerSample: 16,
            durationSec: Math.round(durationSec * GENERATED_SAMPLE_RATE) / GENERATED_SAMPLE_RATE,
          },
          seed,
          plan,
          bytes: artifact.size,
          sha256: artifact.sha256,
        },
        artifact,
      };
    },
  };
}
