import { basename, extname } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import type { JobHandler, JobTypeDefinition } from '@switchyard/handler-sdk';
import type { InputFiles } from '../inputs/input-files';
import { checkMediaPath } from '../inputs/media-path';
import type { AnalyzeTask } from './analyze-task';
import type { AudioEngine } from './audio-engine';

/**
 * A path relative to MEDIA_ROOT: not absolute (`/x`, `\\x`, `C:…`), no `..` segment, no NUL.
 * JSON Schema patterns are ECMAScript (unicode) regular expressions, so any client can check it.
 */
export const MEDIA_PATH_PATTERN =
  '^(?![/\\\\])(?![A-Za-z]:)(?!(?:.*[/\\\\])?\\.\\.(?:[/\\\\]|$))[^\\u0000]+$';

export const AudioAnalyzePayloadSchema = Type.Union([
  Type.Object({ fileId: Type.String({ format: 'uuid', maxLength: 36 }) }, { additionalProperties: false }),
  Type.Object(
    {
      // Relative, without `..` segments or NUL: refused at submission (400), the same rules as
      // checkMediaPath. Escapes through links are refused by the handler, where the real path is.
      path: Type.String({
        minLength: 1,
        maxLength: 1024,
        pattern: MEDIA_PATH_PATTERN,
        description: 'relative to MEDIA_ROOT; no absolute path, no ".." segment',
      }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      // In a flow: the artifact of the dependency with this ref (e.g. an audio.generate WAV).
      fromDependency: Type.String({
        pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$',
        maxLength: 100,
        description: 'in a flow: analyse the artifact of the dependency with this ref',
      }),
    },
    { additionalProperties: false },
  ),
]);
export type AudioAnalyzePayload = Static<typeof AudioAnalyzePayloadSchema>;

/** audio.analyze as the gateway sees it (SPEC §7). */
export const audioAnalyzeType: JobTypeDefinition<AudioAnalyzePayload> = {
  type: 'audio.analyze',
  queue: 'analysis',
  payloadSchema: AudioAnalyzePayloadSchema,
  defaults: { cacheable: true, timeoutMs: 120000 },
};

export interface AudioAnalyzeDependencies {
  mediaRoot: string;
  inputFiles: InputFiles;
  audio: AudioEngine;
}

/**
 * Format, tags, level/silence/tempo features and a suggested file name of one audio file, named
 * by a path under MEDIA_ROOT, by an uploaded file's id, or (in a flow) by the ref of the dependency
 * whose artifact it is. The reading and decoding run on the
 * audio engine's threads.
 */
export function createAudioAnalyzeHandler(deps: AudioAnalyzeDependencies): JobHandler<AudioAnalyzePayload> {
  return {
    ...audioAnalyzeType,
    async handle(ctx) {
      // One step: an analysis takes tens of milliseconds, and every progress report costs a
      // persistent event delivered to the tracker and the metrics service; completion says 100 %.
      const payload = ctx.payload;
      let input: AnalyzeTask;
      if ('fileId' in payload) {
        input = { path: await deps.inputFiles.pathFor(payload.fileId, ctx.tenant), fallbackName: 'audio' };
      } else if ('fromDependency' in payload) {
        // The upstream job's artifact, read where the worker stores it: nothing travels through the client.
        input = {
          path: await ctx.dependencyFile(payload.fromDependency),
          fallbackName: payload.fromDependency,
        };
      } else {
        // The path's syntax is checked here; its real path and confinement on the pool thread,
        // which opens the file next (the filesystem calls cost the main thread ~1 ms a file).
        checkMediaPath(payload.path);
        input = {
          path: payload.path,
          mediaRoot: deps.mediaRoot,
          fallbackName: basename(payload.path, extname(payload.path)),
        };
      }
      ctx.progress(10, 'analyzing');
      const analysis = await deps.audio.analyze(input, ctx.signal);
      return { result: analysis };
    },
  };
}
