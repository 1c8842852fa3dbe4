import { analyzePcm, DBFS_FLOOR } from './analysis';
import { clickTrackWav, silenceThenToneWav, toneWav } from './fixtures';
import { decodeWav } from './wav';

const analyzeWav = (wav: Buffer) => analyzePcm(decodeWav(wav));

describe('analyzePcm levels', () => {
  it('reports a 440 Hz tone at -6 dBFS with its exact format, peak and RMS', () => {
    const decoded = decodeWav(
      toneWav({ freqHz: 440, dbfs: -6, durationSec: 3, sampleRate: 44100, channels: 2 }),
    );
    expect(decoded).toMatchObject({ sampleRate: 44100, channels: 2, bitsPerSample: 16, durationSec: 3 });
    const features = analyzePcm(decoded);
    expect(Math.abs(features.peakDbfs - -6)).toBeLessThanOrEqual(0.5);
    expect(features.peakDbfs).toBeCloseTo(-6, 1);
    expect(features.rmsDbfs).toBeCloseTo(-9.01, 1);
    expect(features.silenceRatio).toBe(0);
  });

  it('reads a full-scale sine as peak 0 dBFS and RMS -3.01 dBFS', () => {
    const features = analyzeWav(toneWav({ dbfs: 0, bitsPerSample: 32, sampleFormat: 'float' }));
    expect(features.peakDbfs).toBeCloseTo(0, 2);
    expect(features.rmsDbfs).toBeCloseTo(-3.01, 2);
  });

  it.each([8, 24, 32] as const)('gives the same levels for %i-bit files', (bits) => {
    const features = analyzeWav(toneWav({ dbfs: -12, bitsPerSample: bits, channels: 1 }));
    expect(Math.abs(features.peakDbfs - -12)).toBeLessThanOrEqual(0.1);
    expect(Math.abs(features.rmsDbfs - -15.01)).toBeLessThanOrEqual(0.1);
  });

  it('floors digital silence at DBFS_FLOOR instead of -Infinity', () => {
    const features = analyzePcm({ sampleRate: 44100, channels: 2, samples: new Int16Array(44100 * 2) });
    expect(features).toEqual({ peakDbfs: DBFS_FLOOR, rmsDbfs: DBFS_FLOOR, silenceRatio: 1, tempoBpm: null });
    expect(JSON.parse(JSON.stringify(features))).toEqual(features);
  });

  it('handles empty input', () => {
    expect(analyzePcm({ sampleRate: 44100, channels: 2, samples: new Int16Array(0) })).toEqual({
      peakDbfs: DBFS_FLOOR,
      rmsDbfs: DBFS_FLOOR,
      silenceRatio: 1,
      tempoBpm: null,
    });
  });
});

describe('analyzePcm silence ratio', () => {
  it('reports 1 s of silence then 2 s of tone as one third silent (within 5 %)', () => {
    const features = analyzeWav(silenceThenToneWav({ silenceSec: 1, toneSec: 2 }));
    expect(Math.abs(features.silenceRatio - 1 / 3)).toBeLessThanOrEqual((0.05 * 1) / 3);
    expect(features.peakDbfs).toBeCloseTo(-6, 1);
  });

  it('counts quiet passages below -50 dBFS as silent and louder ones as sound', () => {
    expect(analyzeWav(silenceThenToneWav({ silenceSec: 2, toneSec: 2, dbfs: -40 })).silenceRatio).toBeCloseTo(
      0.5,
      2,
    );
    // A -56 dBFS peak sine has an RMS of -59 dBFS: below the threshold throughout.
    expect(analyzeWav(toneWav({ dbfs: -56 })).silenceRatio).toBe(1);
  });

  it('works for other rates and mono', () => {
    const features = analyzeWav(
      silenceThenToneWav({ silenceSec: 3, toneSec: 1, sampleRate: 22050, channels: 1 }),
    );
    // Off by at most the one 50 ms window that straddles the start of the tone.
    expect(Math.abs(features.silenceRatio - 0.75)).toBeLessThanOrEqual(0.05 / 4);
  });
});

describe('analyzePcm tempo', () => {
  it.each([90, 120, 150])('finds %i BPM in a click track within 2 BPM', (bpm) => {
    const { tempoBpm } = analyzeWav(clickTrackWav({ bpm, durationSec: 20 }));
    expect(tempoBpm).not.toBeNull();
    expect(Math.abs((tempoBpm ?? 0) - bpm)).toBeLessThanOrEqual(2);
  });

  it.each([
    [60, 44100, 2],
    [97.5, 48000, 1],
    [128, 22050, 2],
    [174, 8000, 1],
    [200, 96000, 2],
  ])('finds %p BPM at %i Hz, %i channel(s)', (bpm, sampleRate, channels) => {
    const { tempoBpm } = analyzeWav(clickTrackWav({ bpm, durationSec: 12, sampleRate, channels }));
    expect(Math.abs((tempoBpm ?? 0) - bpm)).toBeLessThanOrEqual(2);
  });

  it('finds the tempo of a short (5 s) click track', () => {
    expect(analyzeWav(clickTrackWav({ bpm: 120, durationSec: 5 })).tempoBpm).toBeCloseTo(120, 0);
  });

  it.each([55, 440, 5000])('reports no tempo for a steady %i Hz tone', (freqHz) => {
    expect(analyzeWav(toneWav({ freqHz, durationSec: 10 })).tempoBpm).toBeNull();
  });

  it('reports no tempo for a single onset (silence then tone)', () => {
    expect(analyzeWav(silenceThenToneWav({ silenceSec: 1, toneSec: 4 })).tempoBpm).toBeNull();
  });

  it('reports no tempo for white noise', () => {
    let state = 12345;
    const samples = new Int16Array(44100 * 10 * 2);
    for (let i = 0; i < samples.length; i++) {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      samples[i] = (state >>> 16) - 32768;
    }
    expect(analyzePcm({ sampleRate: 44100, channels: 2, samples }).tempoBpm).toBeNull();
  });

  it('needs at least two seconds to report a tempo', () => {
    expect(analyzeWav(clickTrackWav({ bpm: 120, durationSec: 1.5 })).tempoBpm).toBeNull();
  });
});

describe('analyzePcm 16-bit stereo fast path', () => {
  it('gives exactly the generic loop results (an unaligned copy takes the generic loop)', () => {
    for (const wav of [
      clickTrackWav({ bpm: 128, durationSec: 6, channels: 2 }),
      silenceThenToneWav({ silenceSec: 0.37, toneSec: 1.1, channels: 2, sampleRate: 22050 }),
      toneWav({ dbfs: 0, channels: 2, durationSec: 0.5 }),
    ]) {
      const pcm = decodeWav(wav);
      const samples = pcm.samples as Int16Array;
      // An Int16Array at an odd 2-byte offset cannot be viewed as 32-bit words.
      const unaligned = new Int16Array(new ArrayBuffer(samples.byteLength + 2), 2, samples.length);
      unaligned.set(samples);
      // Odd frame counts leave a frame after the two-frame steps.
      for (const frames of [samples.length / 2, samples.length / 2 - 1]) {
        const fast = analyzePcm({ ...pcm, samples: samples.subarray(0, frames * 2) });
        const generic = analyzePcm({ ...pcm, samples: unaligned.subarray(0, frames * 2) });
        expect(fast).toEqual(generic);
      }
    }
  });
});
