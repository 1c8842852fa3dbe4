// Pure audio building blocks for the audio.analyze and audio.generate handlers (SPEC §7).
export {
  analyzePcm,
  DBFS_FLOOR,
  SILENCE_THRESHOLD_DBFS,
  SILENCE_WINDOW_SEC,
  TEMPO_MAX_BPM,
  TEMPO_MIN_BPM,
} from './analysis';
export type { AudioFeatures } from './analysis';
export { createSynth, renderSynthWav } from './synth';
export type { Synth, SynthLead, SynthMode, SynthOptions, SynthPlan } from './synth';
export { MAX_FILENAME_BYTES, suggestFilename, tagsFromCommon } from './tags';
export type { AudioTags, CommonTagsLike } from './tags';
export { AudioFormatError, decodeWav, encodeWav, int16ToBytes, interleave, wavHeader } from './wav';
export type {
  AudioFormatErrorCode,
  DecodedWav,
  EncodeWavInput,
  Pcm,
  WavFormat,
  WavSampleFormat,
} from './wav';
