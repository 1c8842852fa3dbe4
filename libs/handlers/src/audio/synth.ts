import { createHash } from 'node:crypto';
import { int16ToBytes, wavHeader } from './wav';

/**
 * A small, strictly deterministic music synthesiser: the prompt and seed pick tempo, key, mode,
 * chord progression, lead timbre and patterns; an arpeggio, pad, bass and soft drums are then
 * rendered sample by sample. Rendering uses only +, −, ×, ÷, floor and round (no Math.sin/exp,
 * whose last bits may differ between engines), so the same prompt and seed give the same bytes
 * on any platform and for any chunk size.
 */
export interface SynthOptions {
  prompt: string;
  durationSec: number;
  seed?: number;
  sampleRate?: number;
  /** 1 or 2. */
  channels?: number;
}

export type SynthMode = 'major' | 'mixolydian' | 'minor' | 'dorian';
export type SynthLead = 'pluck' | 'bell' | 'reed' | 'flute';

/** What the prompt and seed chose; handlers may report it with the artifact. */
export interface SynthPlan {
  tempoBpm: number;
  key: string;
  mode: SynthMode;
  /** Scale degrees (1-based) of the four chords, one per bar. */
  progression: number[];
  lead: SynthLead;
  drums: boolean;
}

export interface Synth {
  readonly sampleRate: number;
  readonly channels: number;
  readonly bitsPerSample: 16;
  readonly totalFrames: number;
  /** Size of the whole WAV file: header plus data. */
  readonly byteLength: number;
  readonly plan: SynthPlan;
  readonly framesRendered: number;
  /** The 44-byte WAV header for the complete file (write it first). */
  header(): Buffer;
  /** Renders the next frames (at most `maxFrames`) as interleaved samples; empty when done. */
  renderChunk(maxFrames: number): Int16Array;
  /** The remaining audio as chunks, so a caller can check cancellation and report progress. */
  chunks(chunkFrames?: number): Generator<Int16Array, void, undefined>;
}

/** Bumped whenever the output for a given prompt and seed changes (it is part of the hash). */
const SYNTH_VERSION = 'switchyard-synth-v1';
const MAX_DURATION_SEC = 3600;
const DEFAULT_CHUNK_FRAMES = 16384;

export function createSynth(options: SynthOptions): Synth {
  const sampleRate = options.sampleRate ?? 44100;
  const channels = options.channels ?? 2;
  const { prompt, durationSec, seed = 0 } = options;
  if (typeof prompt !== 'string') throw new TypeError('prompt must be a string');
  if (!(durationSec > 0 && durationSec <= MAX_DURATION_SEC)) {
    throw new RangeError(`durationSec must be in (0, ${MAX_DURATION_SEC}], got ${durationSec}`);
  }
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
  if (!Number.isInteger(sampleRate) || sampleRate < 8000 || sampleRate > 192000) {
    throw new RangeError(`sampleRate must be an integer in 8000–192000, got ${sampleRate}`);
  }
  if (channels !== 1 && channels !== 2) throw new RangeError(`channels must be 1 or 2, got ${channels}`);

  const totalFrames = Math.round(durationSec * sampleRate);
  const digest = createHash('sha256').update(`${SYNTH_VERSION}\0${prompt}\0${seed}`).digest();
  const rng = new Xoshiro128(
    digest.readUInt32LE(0),
    digest.readUInt32LE(4),
    digest.readUInt32LE(8),
    digest.readUInt32LE(12),
  );
  const noise = new Xoshiro128(
    digest.readUInt32LE(16),
    digest.readUInt32LE(20),
    digest.readUInt32LE(24),
    digest.readUInt32LE(28),
  );
  const score = compose(prompt.toLowerCase(), rng);
  const engine = new Engine(score, sampleRate, totalFrames, noise);
  const header = wavHeader({ sampleRate, channels, bitsPerSample: 16, frames: totalFrames });

  const renderChunk = (maxFrames: number): Int16Array => {
    if (!Number.isInteger(maxFrames) || maxFrames < 1)
      throw new RangeError(`invalid chunk size ${maxFrames}`);
    const n = Math.min(maxFrames, totalFrames - engine.frame);
    const out = new Int16Array(n * channels);
    engine.render(out, n, channels);
    return out;
  };
  return {
    sampleRate,
    channels,
    bitsPerSample: 16,
    totalFrames,
    byteLength: header.length + totalFrames * channels * 2,
    plan: score.plan,
    get framesRendered() {
      return engine.frame;
    },
    header: () => Buffer.from(header),
    renderChunk,
    *chunks(chunkFrames = DEFAULT_CHUNK_FRAMES) {
      while (engine.frame < totalFrames) yield renderChunk(chunkFrames);
    },
  };
}

/** The whole WAV file in memory; for tests and short clips. */
export function renderSynthWav(options: SynthOptions): Buffer {
  const synth = createSynth(options);
  const parts = [synth.header()];
  for (const chunk of synth.chunks()) parts.push(int16ToBytes(chunk));
  return Buffer.concat(parts);
}

/** xoshiro128**: small, fast, and fully specified by 32-bit integer arithmetic. */
class Xoshiro128 {
  private s: Uint32Array;

  constructor(a: number, b: number, c: number, d: number) {
    this.s = Uint32Array.of(a, b, c, d);
    if ((a | b | c | d) === 0) this.s[0] = 0x9e3779b9; // the all-zero state is a fixed point
  }

  next(): number {
    const s = this.s;
    // (s1 · 5) rotl 7 · 9, with the multiplications as shift-adds (exact mod 2^32).
    const r = rotl((s[1] << 2) + s[1], 7);
    const result = ((r << 3) + r) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next() / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

// ---------------------------------------------------------------------------------------------
// Composition: everything the prompt and seed decide, before any sample is rendered.

const MODES: Record<SynthMode, readonly number[]> = {
  major: [0, 2, 4, 5, 7, 9, 11],
  mixolydian: [0, 2, 4, 5, 7, 9, 10],
  minor: [0, 2, 3, 5, 7, 8, 10],
  dorian: [0, 2, 3, 5, 7, 9, 10],
};
/** Progressions as 0-based scale degrees, one chord per bar. */
const BRIGHT_PROGRESSIONS: readonly (readonly number[])[] = [
  [0, 4, 5, 3],
  [0, 5, 3, 4],
  [0, 3, 4, 3],
  [3, 4, 0, 5],
  [0, 3, 0, 4],
];
const DARK_PROGRESSIONS: readonly (readonly number[])[] = [
  [0, 5, 2, 6],
  [0, 3, 4, 0],
  [0, 6, 5, 6],
  [0, 5, 3, 4],
  [0, 3, 6, 2],
];
const NOTE_NAMES = ['C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B'];
/** Arpeggio shapes over six chord tones (two octaves of the triad). */
const ARP_SHAPES: readonly (readonly number[])[] = [
  [0, 1, 2, 3, 4, 5, 4, 3],
  [5, 4, 3, 2, 1, 0, 1, 2],
  [0, 2, 1, 3, 2, 4, 3, 5],
  [0, 1, 2, 1, 3, 2, 4, 3],
  [0, 3, 1, 4, 2, 5, 3, 4],
];
/** Bass hits per bar as [16th step, chord tone] (tone 3 is the octave). */
const BASS_PATTERNS: readonly (readonly (readonly [number, number])[])[] = [
  [
    [0, 0],
    [8, 0],
  ],
  [
    [0, 0],
    [4, 0],
    [8, 2],
    [12, 0],
  ],
  [
    [0, 0],
    [6, 0],
    [8, 2],
    [14, 0],
  ],
  [
    [0, 0],
    [2, 3],
    [4, 0],
    [6, 3],
    [8, 0],
    [10, 3],
    [12, 0],
    [14, 3],
  ],
];
const KICK_PATTERNS: readonly (readonly number[])[] = [
  [0, 4, 8, 12],
  [0, 8],
  [0, 7, 8],
  [0, 6, 8],
];
const HAT_PATTERNS: readonly (readonly number[])[] = [
  [2, 6, 10, 14],
  [0, 2, 4, 6, 8, 10, 12, 14],
  [2, 6, 10, 11, 14],
];

interface Timbre {
  /** Modulator frequency ratio and peak phase-modulation index (0: none). */
  ratio: number;
  index: number;
  /** Additive 2nd and 3rd harmonic levels; used only without modulation (index 0). */
  h2: number;
  h3: number;
  attackSec: number;
  decaySec: number;
}

const LEADS: Record<SynthLead, Timbre> = {
  pluck: { ratio: 1, index: 1.2, h2: 0, h3: 0, attackSec: 0.004, decaySec: 0.25 },
  bell: { ratio: 3.5, index: 0.8, h2: 0, h3: 0, attackSec: 0.002, decaySec: 0.6 },
  reed: { ratio: 1, index: 0, h2: 0.25, h3: 0.3, attackSec: 0.01, decaySec: 0.22 },
  flute: { ratio: 1, index: 0, h2: 0.2, h3: 0.05, attackSec: 0.04, decaySec: 0.35 },
};
const PAD: Timbre = { ratio: 1, index: 0, h2: 0.15, h3: 0.08, attackSec: 0.5, decaySec: 1.6 };
const BASS: Timbre = { ratio: 1, index: 0.8, h2: 0, h3: 0, attackSec: 0.006, decaySec: 0.35 };

interface Score {
  plan: SynthPlan;
  rootMidi: number;
  scale: readonly number[];
  progression: readonly number[];
  /** Per 16th step: chord-tone index or -1 for a rest. */
  arp: number[];
  lead: Timbre;
  bass: readonly (readonly [number, number])[];
  kick: readonly number[];
  hats: readonly number[];
}

const has = (text: string, words: readonly string[]): boolean => words.some((w) => text.includes(w));

function compose(prompt: string, rng: Xoshiro128): Score {
  // Keywords steer the choice; the hash decides whatever the prompt leaves open.
  const bpmMatch = /(\d{2,3})\s*bpm/.exec(prompt);
  let tempoBpm: number;
  if (bpmMatch) tempoBpm = Math.max(60, Math.min(180, Number(bpmMatch[1])));
  else if (has(prompt, ['slow', 'calm', 'chill', 'ambient', 'relax', 'sleep', 'lofi', 'lo-fi', 'gentle']))
    tempoBpm = 70 + rng.int(21);
  else if (has(prompt, ['fast', 'energetic', 'upbeat', 'dance', 'techno', 'house', 'party', 'action', 'run']))
    tempoBpm = 120 + rng.int(21);
  else tempoBpm = 90 + rng.int(35);

  const dark = has(prompt, [
    'sad',
    'dark',
    'minor',
    'melanch',
    'night',
    'rain',
    'moody',
    'myster',
    'epic',
    'tense',
  ]);
  const bright = has(prompt, ['happy', 'bright', 'major', 'sunny', 'cheer', 'joy', 'summer', 'playful']);
  const minorish = dark || (!bright && rng.float() < 0.5);
  const mode: SynthMode = minorish
    ? rng.pick(['minor', 'minor', 'dorian'] as const)
    : rng.pick(['major', 'major', 'mixolydian'] as const);
  const progression = rng.pick(minorish ? DARK_PROGRESSIONS : BRIGHT_PROGRESSIONS);

  let lead: SynthLead = rng.pick(['pluck', 'bell', 'reed', 'flute'] as const);
  if (has(prompt, ['bell', 'chime', 'music box'])) lead = 'bell';
  else if (has(prompt, ['pluck', 'harp', 'guitar', 'piano'])) lead = 'pluck';
  else if (has(prompt, ['flute', 'wind', 'breath'])) lead = 'flute';

  const drums = !has(prompt, ['ambient', 'no drums', 'drone', 'sleep', 'meditat', 'without drums']);
  const rootMidi = 40 + rng.int(12); // E2 to D#3

  const shape = rng.pick(ARP_SHAPES);
  const sixteenths = tempoBpm < 110 ? rng.float() < 0.6 : rng.float() < 0.25;
  const arp: number[] = [];
  for (let step = 0; step < 16; step++) {
    if (!sixteenths && step % 2 === 1) {
      arp.push(-1);
      continue;
    }
    const i = sixteenths ? step % 8 : (step / 2) % 8;
    arp.push(step > 0 && rng.float() < 0.12 ? -1 : shape[i]);
  }

  return {
    plan: {
      tempoBpm,
      key: NOTE_NAMES[rootMidi % 12],
      mode,
      progression: progression.map((d) => d + 1),
      lead,
      drums,
    },
    rootMidi,
    scale: MODES[mode],
    progression,
    arp,
    lead: LEADS[lead],
    bass: rng.pick(BASS_PATTERNS),
    kick:
      tempoBpm >= 118
        ? rng.pick([KICK_PATTERNS[0], KICK_PATTERNS[0], KICK_PATTERNS[2]])
        : rng.pick(KICK_PATTERNS),
    hats: rng.pick(HAT_PATTERNS),
  };
}

// ---------------------------------------------------------------------------------------------
// Rendering.

const TWO_PI = 6.283185307179586;

/**
 * sin(2π·turns) from a Taylor polynomial (error < 1e-7), independent of the engine's Math.sin.
 * `%` rather than Math.floor: both are exact, and Math calls are slow inside Jest's VM context.
 */
function sinTurns(turns: number): number {
  let x = turns % 1;
  if (x < 0) x += 1;
  if (x > 0.75) x -= 1;
  else if (x > 0.25) x = 0.5 - x;
  const t = x * TWO_PI;
  const t2 = t * t;
  return (
    t * (1 + t2 * (-1 / 6 + t2 * (1 / 120 + t2 * (-1 / 5040 + t2 * (1 / 362880 + t2 * (-1 / 39916800))))))
  );
}

/** Equal-tempered semitone ratios 2^(k/12), written out so no Math.pow is involved. */
const SEMITONES = [
  1, 1.0594630943592953, 1.122462048309373, 1.189207115002721, 1.2599210498948732, 1.3348398541700344,
  1.4142135623730951, 1.4983070768766815, 1.5874010519681994, 1.681792830507429, 1.7817974362806785,
  1.8877486253633868,
];

function midiToHz(midi: number): number {
  const fromA = midi - 69;
  const octave = Math.floor(fromA / 12);
  let hz = 440 * SEMITONES[fromA - octave * 12];
  for (let o = 0; o < octave; o++) hz *= 2;
  for (let o = 0; o > octave; o--) hz /= 2;
  return hz;
}

/** Per-sample multiplier approximating a decay with time constant `sec` (1 − 1/τ, no exp). */
const decayFactor = (sec: number, sampleRate: number): number => 1 - 1 / (sec * sampleRate);

/** One oscillator with an attack/decay envelope; retriggering keeps phase and level (no clicks). */
class Voice {
  active = false;
  private phase = 0;
  private modPhase = 0;
  private inc = 0;
  private modInc = 0;
  private env = 0;
  private attacking = false;
  private attackStep = 0;
  private decay = 0;
  private timbre: Timbre = PAD;
  private gain = 0;
  panL = 0.5;
  panR = 0.5;

  trigger(hz: number, timbre: Timbre, gain: number, pan: number, sampleRate: number): void {
    this.active = true;
    this.inc = hz / sampleRate;
    this.modInc = (hz * timbre.ratio) / sampleRate;
    this.timbre = timbre;
    this.gain = gain;
    this.attacking = true;
    this.attackStep = 1 / (timbre.attackSec * sampleRate);
    this.decay = decayFactor(timbre.decaySec, sampleRate);
    this.panL = 0.5 - 0.5 * pan;
    this.panR = 0.5 + 0.5 * pan;
  }

  level(): number {
    return this.active ? this.env : 0;
  }

  tick(): number {
    if (this.attacking) {
      this.env += this.attackStep;
      if (this.env >= 1) {
        this.env = 1;
        this.attacking = false;
      }
    } else {
      this.env *= this.decay;
      if (this.env < 1e-4) {
        this.active = false;
        this.env = 0;
        return 0;
      }
    }
    const { index, h2, h3 } = this.timbre;
    const p = this.phase;
    let v: number;
    if (index > 0) {
      // The modulation index follows the envelope: bright attack, mellow tail.
      v = sinTurns(p + index * this.env * sinTurns(this.modPhase));
    } else {
      // Harmonics from the fundamental by Chebyshev identities, one sine per sample:
      // cos 2p = 1 − 2 sin²p, sin 3p = 3 sin p − 4 sin³p.
      const s = sinTurns(p);
      const s2 = s * s;
      v = s + h2 * (1 - 2 * s2) + h3 * s * (3 - 4 * s2);
    }
    this.phase = p + this.inc;
    if (this.phase >= 1) this.phase -= 1;
    this.modPhase += this.modInc;
    if (this.modPhase >= 1) this.modPhase -= 1;
    return v * this.env * this.gain;
  }
}

/** Takes the quietest voice of a pool, so a new note cuts the faintest tail. */
function freeVoice(pool: Voice[]): Voice {
  let best = pool[0];
  for (const v of pool) if (v.level() < best.level()) best = v;
  return best;
}

class Engine {
  frame = 0;
  private step = 0;
  private nextStepFrame = 0;
  private readonly stepFrames: number;
  private readonly arpVoices = [new Voice(), new Voice(), new Voice(), new Voice()];
  // Six pad voices: a new chord takes the three quietest, so the previous one fades out.
  private readonly padVoices = Array.from({ length: 6 }, () => new Voice());
  private readonly bassVoices = [new Voice(), new Voice()];
  private arpTurn = 0;
  // Drums: envelope levels, the kick's pitch envelope and phase, the previous hat noise sample.
  private kickEnv = 0;
  private kickPitch = 0;
  private kickPhase = 0;
  private snareEnv = 0;
  private snarePhase = 0;
  private hatEnv = 0;
  private hatPrev = 0;
  private readonly kickDecay: number;
  private readonly kickPitchDecay: number;
  private readonly snareDecay: number;
  private readonly hatDecay: number;
  // Ping-pong echo on the arpeggio, a dotted eighth long.
  private readonly delayL: Float64Array;
  private readonly delayR: Float64Array;
  private delayPos = 0;
  private arpLowL = 0;
  private arpLowR = 0;
  private readonly lowpass: number;
  private readonly fadeInFrames: number;
  private readonly fadeOutFrames: number;
  private readonly drumsFromStep: number;

  constructor(
    private readonly score: Score,
    private readonly sampleRate: number,
    private readonly totalFrames: number,
    private readonly noise: Xoshiro128,
  ) {
    this.stepFrames = (sampleRate * 15) / score.plan.tempoBpm;
    this.kickDecay = decayFactor(0.16, sampleRate);
    this.kickPitchDecay = decayFactor(0.03, sampleRate);
    this.snareDecay = decayFactor(0.07, sampleRate);
    this.hatDecay = decayFactor(0.022, sampleRate);
    const delayFrames = Math.max(1, Math.round(this.stepFrames * 3));
    this.delayL = new Float64Array(delayFrames);
    this.delayR = new Float64Array(delayFrames);
    // One-pole low-pass near 3.5 kHz softens the lead; w/(1+w) stands in for 1 − e^(−w).
    const w = (TWO_PI * 3500) / sampleRate;
    this.lowpass = w / (1 + w);
    this.fadeInFrames = Math.max(1, Math.round(sampleRate / 100));
    this.fadeOutFrames = Math.max(1, Math.min(2 * sampleRate, Math.round(totalFrames / 4)));
    // A one-bar intro without drums when the piece is long enough to have one.
    const bars = totalFrames / (this.stepFrames * 16);
    this.drumsFromStep = bars >= 4 ? 16 : 0;
  }

  private chordTone(bar: number, tone: number): number {
    const { scale, progression, rootMidi } = this.score;
    const degree = progression[bar % progression.length] + 2 * (tone % 3);
    return rootMidi + scale[degree % 7] + 12 * Math.floor(degree / 7) + 12 * Math.floor(tone / 3);
  }

  private triggerStep(step: number): void {
    const { score, sampleRate } = this;
    const bar = Math.floor(step / 16);
    const s = step % 16;
    if (s === 0) {
      for (let t = 0; t < 3; t++) {
        freeVoice(this.padVoices).trigger(
          midiToHz(this.chordTone(bar, t) + 12),
          PAD,
          0.07,
          (t - 1) * 0.5,
          sampleRate,
        );
      }
    }
    // Every fourth bar the arpeggio runs backwards, for a little variation.
    const a = score.arp[bar % 4 === 3 ? 15 - s : s];
    if (a >= 0) {
      const pan = this.arpTurn % 2 === 0 ? -0.35 : 0.35;
      this.arpTurn += 1;
      freeVoice(this.arpVoices).trigger(
        midiToHz(this.chordTone(bar, a) + 24),
        score.lead,
        0.16,
        pan,
        sampleRate,
      );
    }
    for (const [at, tone] of score.bass) {
      if (at === s)
        freeVoice(this.bassVoices).trigger(midiToHz(this.chordTone(bar, tone)), BASS, 0.3, 0, sampleRate);
    }
    if (score.plan.drums && step >= this.drumsFromStep) {
      if (score.kick.includes(s)) {
        this.kickEnv = 1;
        this.kickPitch = 1;
      }
      if (s === 4 || s === 12) this.snareEnv = 1;
      if (score.hats.includes(s)) this.hatEnv = 1;
    }
  }

  render(out: Int16Array, frames: number, channels: number): void {
    const { sampleRate } = this;
    const delayLen = this.delayL.length;
    for (let f = 0, o = 0; f < frames; f++) {
      while (this.frame >= this.nextStepFrame) {
        this.triggerStep(this.step);
        this.step += 1;
        this.nextStepFrame = Math.round(this.step * this.stepFrames);
      }

      let arpL = 0;
      let arpR = 0;
      for (const v of this.arpVoices) {
        if (!v.active) continue;
        const x = v.tick();
        arpL += x * v.panL;
        arpR += x * v.panR;
      }
      this.arpLowL += this.lowpass * (arpL - this.arpLowL);
      this.arpLowR += this.lowpass * (arpR - this.arpLowR);
      const echoL = this.delayL[this.delayPos];
      const echoR = this.delayR[this.delayPos];
      this.delayL[this.delayPos] = this.arpLowL + 0.4 * echoR;
      this.delayR[this.delayPos] = 0.4 * echoL;
      this.delayPos = this.delayPos + 1 === delayLen ? 0 : this.delayPos + 1;

      let left = this.arpLowL + 0.3 * echoL;
      let right = this.arpLowR + 0.3 * echoR;
      for (const v of this.padVoices) {
        if (!v.active) continue;
        const x = v.tick();
        left += x * v.panL;
        right += x * v.panR;
      }
      let center = 0;
      for (const v of this.bassVoices) if (v.active) center += v.tick();

      if (this.kickEnv > 1e-4) {
        // A sine sweeping from ~150 Hz down to 45 Hz: a soft, round kick.
        center += 0.5 * this.kickEnv * sinTurns(this.kickPhase);
        this.kickPhase += (45 + 105 * this.kickPitch) / sampleRate;
        if (this.kickPhase >= 1) this.kickPhase -= 1;
        this.kickPitch *= this.kickPitchDecay;
        this.kickEnv *= this.kickDecay;
      }
      if (this.snareEnv > 1e-4) {
        const n = this.noise.float() * 2 - 1;
        center += this.snareEnv * (0.09 * n + 0.06 * sinTurns(this.snarePhase));
        this.snarePhase += 190 / sampleRate;
        if (this.snarePhase >= 1) this.snarePhase -= 1;
        this.snareEnv *= this.snareDecay;
      }
      if (this.hatEnv > 1e-4) {
        // First difference of white noise: a crude high-pass that leaves the hiss of a hat.
        const n = this.noise.float() * 2 - 1;
        const hat = 0.035 * this.hatEnv * (n - this.hatPrev);
        this.hatPrev = n;
        left += 0.4 * hat;
        right += 0.6 * hat;
        this.hatEnv *= this.hatDecay;
      }
      left += 0.5 * center;
      right += 0.5 * center;

      let fade = 1;
      const remaining = this.totalFrames - this.frame;
      if (this.frame < this.fadeInFrames) fade = this.frame / this.fadeInFrames;
      if (remaining < this.fadeOutFrames) {
        const g = remaining / this.fadeOutFrames;
        fade *= g * g;
      }
      if (channels === 1) {
        out[o++] = toInt16(0.5 * (left + right) * fade);
      } else {
        out[o++] = toInt16(left * fade);
        out[o++] = toInt16(right * fade);
      }
      this.frame += 1;
    }
  }
}

/** Cubic soft clip (transparent at low level, smooth into full scale) with a -1 dB ceiling. */
function toInt16(x: number): number {
  const y = x >= 1 ? 1 : x <= -1 ? -1 : 1.5 * x - 0.5 * x * x * x;
  // Round half up without Math.round (see sinTurns); |v| < 2^15, so `| 0` truncates safely.
  const v = y * 0.89 * 32767 + 0.5;
  const r = v | 0;
  return r > v ? r - 1 : r;
}
