import { createHash } from 'node:crypto';
import { analyzePcm } from './analysis';
import { createSynth, renderSynthWav } from './synth';
import { decodeWav, int16ToBytes } from './wav';

const sha256 = (buf: Buffer): string => createHash('sha256').update(buf).digest('hex');

describe('createSynth', () => {
  it('renders byte-identical WAV files for the same prompt and seed', () => {
    const a = renderSynthWav({ prompt: 'calm piano at night', durationSec: 3, seed: 42 });
    const b = renderSynthWav({ prompt: 'calm piano at night', durationSec: 3, seed: 42 });
    expect(a.equals(b)).toBe(true);
  });

  it('renders different audio for a different seed or prompt', () => {
    const base = renderSynthWav({ prompt: 'calm piano at night', durationSec: 3, seed: 42 });
    const otherSeed = renderSynthWav({ prompt: 'calm piano at night', durationSec: 3, seed: 43 });
    const otherPrompt = renderSynthWav({ prompt: 'calm piano at noon', durationSec: 3, seed: 42 });
    expect(base.equals(otherSeed)).toBe(false);
    expect(base.equals(otherPrompt)).toBe(false);
  });

  it('treats a missing seed as seed 0', () => {
    const implicit = renderSynthWav({ prompt: 'x', durationSec: 1 });
    expect(implicit.equals(renderSynthWav({ prompt: 'x', durationSec: 1, seed: 0 }))).toBe(true);
  });

  it('does not depend on how the caller chunks the rendering', () => {
    const whole = renderSynthWav({ prompt: 'chunking', durationSec: 2, seed: 7 });
    const synth = createSynth({ prompt: 'chunking', durationSec: 2, seed: 7 });
    const parts = [synth.header()];
    for (let size = 1; synth.framesRendered < synth.totalFrames; size = (size * 7) % 5000 || 1) {
      parts.push(int16ToBytes(synth.renderChunk(size)));
    }
    expect(Buffer.concat(parts).equals(whole)).toBe(true);
  });

  // Guards the cross-version promise: a change here changes every cached audio.generate result,
  // so it must come with a new SYNTH_VERSION.
  it('keeps producing the same bytes as the reference rendering', () => {
    const wav = renderSynthWav({ prompt: 'reference', durationSec: 2, seed: 1 });
    expect(sha256(wav)).toBe('407723e8d931d7e204efa9d051b367c5079ae85bee225d10b14b64d32d5d5cb9');
  });

  it.each([
    [1, 44100, 2],
    [2.5, 48000, 1],
    [10, 44100, 2],
  ])(
    'renders %p s at %i Hz, %i channel(s), decoding to exactly that',
    (durationSec, sampleRate, channels) => {
      const synth = createSynth({ prompt: 'duration check', durationSec, sampleRate, channels, seed: 3 });
      expect(synth.totalFrames).toBe(durationSec * sampleRate);
      const parts = [synth.header()];
      let chunks = 0;
      for (const chunk of synth.chunks(sampleRate)) {
        expect(chunk.length).toBeLessThanOrEqual(sampleRate * channels);
        parts.push(int16ToBytes(chunk));
        chunks += 1;
      }
      expect(chunks).toBe(Math.ceil(durationSec));
      expect(synth.framesRendered).toBe(synth.totalFrames);
      expect(synth.renderChunk(100)).toHaveLength(0);
      const wav = Buffer.concat(parts);
      expect(wav.length).toBe(synth.byteLength);
      const decoded = decodeWav(wav);
      expect(decoded).toMatchObject({ sampleRate, channels, bitsPerSample: 16, durationSec });
    },
  );

  it('sizes the longest allowed piece (120 s) correctly up front', () => {
    const synth = createSynth({ prompt: 'long', durationSec: 120 });
    expect(synth.totalFrames).toBe(120 * 44100);
    expect(synth.byteLength).toBe(44 + 120 * 44100 * 4);
    const header = synth.header();
    expect(header.readUInt32LE(40)).toBe(120 * 44100 * 4);
    expect(header.readUInt32LE(4)).toBe(synth.byteLength - 8);
  });

  it('produces audible, unclipped music with the tempo it planned', () => {
    const synth = createSynth({ prompt: 'dark techno 128 bpm', durationSec: 20, seed: 7 });
    expect(synth.plan).toMatchObject({ tempoBpm: 128, drums: true });
    const features = analyzePcm(
      decodeWav(renderSynthWav({ prompt: 'dark techno 128 bpm', durationSec: 20, seed: 7 })),
    );
    expect(features.peakDbfs).toBeLessThan(-0.5);
    expect(features.rmsDbfs).toBeGreaterThan(-30);
    expect(features.silenceRatio).toBeLessThan(0.05);
    expect(Math.abs((features.tempoBpm ?? 0) - 128)).toBeLessThanOrEqual(2);
  });

  it('lets the prompt steer tempo, mood and drums', () => {
    expect(createSynth({ prompt: 'Song at 95 BPM', durationSec: 1 }).plan.tempoBpm).toBe(95);
    expect(createSynth({ prompt: 'ambient pad', durationSec: 1 }).plan.drums).toBe(false);
    for (let seed = 0; seed < 5; seed++) {
      expect(['minor', 'dorian']).toContain(
        createSynth({ prompt: 'sad rain', durationSec: 1, seed }).plan.mode,
      );
      expect(
        createSynth({ prompt: 'slow and calm', durationSec: 1, seed }).plan.tempoBpm,
      ).toBeLessThanOrEqual(90);
    }
  });

  it('rejects invalid options', () => {
    expect(() => createSynth({ prompt: 'x', durationSec: 0 })).toThrow(RangeError);
    expect(() => createSynth({ prompt: 'x', durationSec: Number.NaN })).toThrow(RangeError);
    expect(() => createSynth({ prompt: 'x', durationSec: 1, seed: Number.POSITIVE_INFINITY })).toThrow(
      RangeError,
    );
    expect(() => createSynth({ prompt: 'x', durationSec: 1, channels: 3 })).toThrow(RangeError);
    expect(() => createSynth({ prompt: 'x', durationSec: 1, sampleRate: 1000 })).toThrow(RangeError);
    expect(() => createSynth({ prompt: 'x', durationSec: 1 }).renderChunk(0)).toThrow(RangeError);
  });
});
