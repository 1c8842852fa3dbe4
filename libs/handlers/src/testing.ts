// Test-only entry (@switchyard/handlers/testing): WAV files with known properties for the audio
// specs and the end-to-end tests. Kept out of src/index.ts so no service bundles or exposes them.
export { clickTrackWav, silenceThenToneWav, taggedWav, toneWav } from './audio/fixtures';
export type {
  ClickTrackOptions,
  FixtureFormat,
  FixtureTags,
  SilenceThenToneOptions,
  TaggedWavOptions,
  ToneOptions,
} from './audio/fixtures';
