// The built-in job types (SPEC §7) and what the worker needs to run them. Handler authors import
// @switchyard/handler-sdk; storage is @switchyard/storage; test fixtures are @switchyard/handlers/testing.
export * from './built-in';
export * from './synthetic/synthetic.handler';
export * from './audio';
export * from './audio/audio-analyze.handler';
export * from './audio/audio-generate.handler';
export * from './audio/audio-engine';
export type { AnalyzeTask, AudioAnalysis, AudioFormatInfo } from './audio/analyze-task';
export type { GenerateTask } from './audio/generate-task';
export * from './inputs/input-files';
export * from './inputs/media-path';
export * from './provider/provider-client';
export * from './provider/provider-generate.handler';
export * from './provider/provider-registry';
export * from './provider/providers-file';
