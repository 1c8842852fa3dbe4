import type { AnyJobHandler, AnyJobTypeDefinition } from '@switchyard/handler-sdk';
import { createAudioAnalyzeHandler, audioAnalyzeType } from './audio/audio-analyze.handler';
import { createAudioGenerateHandler, audioGenerateType } from './audio/audio-generate.handler';
import type { AudioEngine } from './audio/audio-engine';
import type { InputFiles } from './inputs/input-files';
import { createProviderGenerateHandler, providerGenerateType } from './provider/provider-generate.handler';
import type { ProviderRegistry } from './provider/provider-registry';
import { syntheticHandler } from './synthetic/synthetic.handler';

/**
 * Every job type Switchyard ships (SPEC §7), as the gateway needs them: type, queue, payload
 * schema, defaults. Importing this list loads no thread pool, provider or file system.
 */
export const BUILT_IN_JOB_TYPES: readonly AnyJobTypeDefinition[] = [
  syntheticHandler,
  audioAnalyzeType,
  audioGenerateType,
  providerGenerateType,
] as readonly AnyJobTypeDefinition[];

/** What the built-in handlers need from the worker that runs them. */
export interface BuiltInDependencies {
  /** MEDIA_ROOT: audio.analyze `{path}` inputs are confined to it. */
  mediaRoot: string;
  /** audio.analyze `{fileId}` inputs. */
  inputFiles: InputFiles;
  /** Off-thread decoding, analysis and synthesis. */
  audio: AudioEngine;
  /** PROVIDERS_FILE's providers, for provider.generate. */
  providers: ProviderRegistry;
}

/** The built-in handlers, wired to the worker's resources. */
export function createBuiltInHandlers(deps: BuiltInDependencies): AnyJobHandler[] {
  return [
    syntheticHandler,
    createAudioAnalyzeHandler(deps),
    createAudioGenerateHandler(deps),
    createProviderGenerateHandler(deps),
  ] as AnyJobHandler[];
}
