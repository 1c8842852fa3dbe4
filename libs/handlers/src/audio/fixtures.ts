import { encodeWav, type WavSampleFormat } from './wav';

/**
 * WAV generators with known properties, for unit and end-to-end tests of audio analysis.
 * Levels are peak levels in dBFS (a sine at -6 dBFS has amplitude 10^(-6/20) of full scale).
 */
export interface FixtureFormat {
  sampleRate?: number;
  channels?: number;
  bitsPerSample?: 8 | 16 | 24 | 32;
  sampleFormat?: WavSampleFormat;
}

export interface ToneOptions extends FixtureFormat {
  freqHz?: number;
  dbfs?: number;
  durationSec?: number;
}

export interface SilenceThenToneOptions extends FixtureFormat {
  silenceSec?: number;
  toneSec?: number;
  freqHz?: number;
  dbfs?: number;
}

export interface ClickTrackOptions extends FixtureFormat {
  bpm: number;
  durationSec?: number;
  dbfs?: number;
}

/** RIFF LIST/INFO fields: INAM, IART, IPRD, ICRD, IGNR, ITRK. */
export interface FixtureTags {
  title?: string;
  artist?: string;
  album?: string;
  year?: number | string;
  genre?: string;
  track?: number | string;
}

export interface TaggedWavOptions extends ToneOptions {
  tags: FixtureTags;
}

const amplitude = (dbfs: number): number => 10 ** (dbfs / 20);

/**
 * Builds a WAV from a mono signal in ±1.0, copied to every channel. Hot loops here avoid Math.*
 * calls, which are slow inside Jest's VM context and dominate test time otherwise.
 */
function render(format: FixtureFormat, signal: Float64Array): Buffer {
  const sampleRate = format.sampleRate ?? 44100;
  const channels = format.channels ?? 2;
  const bitsPerSample = format.bitsPerSample ?? 16;
  const sampleFormat = format.sampleFormat ?? 'int';
  const frames = signal.length;
  const n = frames * channels;
  // 16-bit output is quantised here so the common case skips encodeWav's per-sample path.
  const samples = bitsPerSample === 16 && sampleFormat === 'int' ? new Int16Array(n) : new Float32Array(n);
  const int = samples instanceof Int16Array;
  for (let f = 0, o = 0; f < frames; f++) {
    let v = signal[f];
    if (int) {
      // Round half up and clamp, as encodeWav does.
      v = v * 32768 + 0.5;
      let r = v | 0;
      if (r > v) r -= 1;
      v = r < -32768 ? -32768 : r > 32767 ? 32767 : r;
    }
    for (let c = 0; c < channels; c++) samples[o++] = v;
  }
  return encodeWav({ sampleRate, channels, bitsPerSample, sampleFormat, samples });
}

/**
 * Writes `amp · sin(w · k)` for k = 0… into `out` from `start`, by rotating a phasor and
 * re-anchoring it with Math.sin/cos every 1024 samples so rounding cannot drift.
 */
function writeSine(out: Float64Array, start: number, frames: number, amp: number, w: number): void {
  const cw = Math.cos(w);
  const sw = Math.sin(w);
  for (let k = 0; k < frames; k += 1024) {
    let c = Math.cos(w * k);
    let s = Math.sin(w * k);
    const end = Math.min(frames, k + 1024);
    for (let j = k; j < end; j++) {
      out[start + j] = amp * s;
      const next = c * cw - s * sw;
      s = s * cw + c * sw;
      c = next;
    }
  }
}

/** A steady sine tone. Defaults: 440 Hz, -6 dBFS, 3 s, 44.1 kHz stereo 16-bit. */
export function toneWav(options: ToneOptions = {}): Buffer {
  const sampleRate = options.sampleRate ?? 44100;
  const frames = Math.round((options.durationSec ?? 3) * sampleRate);
  const signal = new Float64Array(frames);
  writeSine(
    signal,
    0,
    frames,
    amplitude(options.dbfs ?? -6),
    (2 * Math.PI * (options.freqHz ?? 440)) / sampleRate,
  );
  return render(options, signal);
}

/** Digital silence followed by a sine tone. Defaults: 1 s silence, 2 s of 440 Hz at -6 dBFS. */
export function silenceThenToneWav(options: SilenceThenToneOptions = {}): Buffer {
  const sampleRate = options.sampleRate ?? 44100;
  const silentFrames = Math.round((options.silenceSec ?? 1) * sampleRate);
  const toneFrames = Math.round((options.toneSec ?? 2) * sampleRate);
  const signal = new Float64Array(silentFrames + toneFrames);
  const w = (2 * Math.PI * (options.freqHz ?? 440)) / sampleRate;
  writeSine(signal, silentFrames, toneFrames, amplitude(options.dbfs ?? -6), w);
  return render(options, signal);
}

/**
 * A metronome: a 20 ms, 2 kHz click with a fast exponential decay starting exactly on every beat
 * (frame round(i · 60 / bpm · sampleRate)), silence between. Defaults: 20 s at -3 dBFS peak.
 */
export function clickTrackWav(options: ClickTrackOptions): Buffer {
  const sampleRate = options.sampleRate ?? 44100;
  const frames = Math.round((options.durationSec ?? 20) * sampleRate);
  const beatFrames = (60 / options.bpm) * sampleRate;
  const click = new Float64Array(Math.round(0.02 * sampleRate));
  const w = (2 * Math.PI * 2000) / sampleRate;
  let crest = 0;
  for (let t = 0; t < click.length; t++) {
    click[t] = Math.sin(w * t) * Math.exp(-t / (0.004 * sampleRate));
    crest = Math.max(crest, Math.abs(click[t]));
  }
  // Scale so the click's sampled crest, not its envelope, sits at the requested peak level.
  const a = amplitude(options.dbfs ?? -3) / crest;
  const signal = new Float64Array(frames);
  for (let beat = 0; ; beat++) {
    const start = Math.round(beat * beatFrames);
    if (start >= frames) break;
    const end = Math.min(frames, start + click.length, Math.round((beat + 1) * beatFrames));
    for (let f = start; f < end; f++) signal[f] = a * click[f - start];
  }
  return render(options, signal);
}

const INFO_IDS: Record<keyof FixtureTags, string> = {
  title: 'INAM',
  artist: 'IART',
  album: 'IPRD',
  year: 'ICRD',
  genre: 'IGNR',
  track: 'ITRK',
};

function chunk(id: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.write(id, 0, 'latin1');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat(body.length % 2 === 1 ? [head, body, Buffer.alloc(1)] : [head, body]);
}

/**
 * A tone (see `toneWav`) carrying RIFF LIST/INFO tags. Values are written as UTF-8 and declared
 * so by a CSET chunk (code page 65001); without it readers assume ISO 8859-1.
 */
export function taggedWav(options: TaggedWavOptions): Buffer {
  const wav = toneWav(options);
  const items: Buffer[] = [];
  for (const key of Object.keys(INFO_IDS) as (keyof FixtureTags)[]) {
    const value = options.tags[key];
    if (value === undefined) continue;
    items.push(chunk(INFO_IDS[key], Buffer.from(`${value}\0`, 'utf8')));
  }
  const list = chunk('LIST', Buffer.concat([Buffer.from('INFO', 'latin1'), ...items]));
  const cset = Buffer.alloc(8);
  cset.writeUInt16LE(65001, 0);
  // The canonical header from encodeWav is RIFF(12) + fmt(24); the metadata goes before data.
  const out = Buffer.concat([wav.subarray(0, 36), chunk('CSET', cset), list, wav.subarray(36)]);
  out.writeUInt32LE(out.length - 8, 4);
  return out;
}
