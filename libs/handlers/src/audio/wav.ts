import { endianness } from 'node:os';

/** Why a buffer could not be read as WAV; handlers treat every one as a permanent failure. */
export type AudioFormatErrorCode = 'NOT_WAV' | 'TRUNCATED' | 'UNSUPPORTED';

export class AudioFormatError extends Error {
  constructor(
    readonly code: AudioFormatErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AudioFormatError';
  }
}

/**
 * Interleaved PCM. Int16Array samples are integers on a ±32768 full scale; Float32Array samples
 * are on a ±1.0 full scale (higher-resolution and float files decode to Float32Array).
 */
export interface Pcm {
  sampleRate: number;
  channels: number;
  samples: Int16Array | Float32Array;
}

export type WavSampleFormat = 'int' | 'float';

export interface DecodedWav extends Pcm {
  bitsPerSample: number;
  sampleFormat: WavSampleFormat;
  /** Frames (samples per channel). */
  frames: number;
  durationSec: number;
}

export interface WavFormat {
  sampleRate: number;
  channels: number;
  /** 8, 16, 24 or 32 for integer PCM; 32 for float. */
  bitsPerSample: number;
  sampleFormat?: WavSampleFormat;
}

export interface EncodeWavInput extends WavFormat {
  samples: Int16Array | Float32Array;
}

const WAVE_FORMAT_PCM = 0x0001;
const WAVE_FORMAT_IEEE_FLOAT = 0x0003;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
/** Placeholder some streaming writers leave in the data size when the length was unknown. */
const UNKNOWN_SIZE = 0xffffffff;
const HEADER_BYTES = 44;
const LITTLE_ENDIAN = endianness() === 'LE';

function checkFormat(format: WavFormat): Required<WavFormat> {
  const { sampleRate, channels, bitsPerSample } = format;
  const sampleFormat = format.sampleFormat ?? 'int';
  if (!Number.isInteger(sampleRate) || sampleRate < 1 || sampleRate > 0x7fffffff) {
    throw new RangeError(`invalid sample rate ${sampleRate}`);
  }
  if (!Number.isInteger(channels) || channels < 1 || channels > 0xffff) {
    throw new RangeError(`invalid channel count ${channels}`);
  }
  const ok = sampleFormat === 'float' ? bitsPerSample === 32 : [8, 16, 24, 32].includes(bitsPerSample);
  if (!ok) throw new RangeError(`unsupported ${sampleFormat} bit depth ${bitsPerSample}`);
  return { sampleRate, channels, bitsPerSample, sampleFormat };
}

/**
 * The 44-byte canonical header for a WAV whose data size is known up front, so a writer can
 * stream the header and then the sample chunks without seeking back.
 */
export function wavHeader(format: WavFormat & { frames: number }): Buffer {
  const { sampleRate, channels, bitsPerSample, sampleFormat } = checkFormat(format);
  const blockAlign = channels * (bitsPerSample / 8);
  const dataBytes = format.frames * blockAlign;
  // RIFF sizes are 32-bit; the pad byte for odd data sizes counts toward the RIFF size.
  const riffSize = 4 + 24 + 8 + dataBytes + (dataBytes & 1);
  if (!Number.isInteger(format.frames) || format.frames < 0 || riffSize > 0xffffffff) {
    throw new RangeError(`invalid frame count ${format.frames}`);
  }
  const h = Buffer.alloc(HEADER_BYTES);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(riffSize, 4);
  h.write('WAVE', 8, 'latin1');
  h.write('fmt ', 12, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(sampleFormat === 'float' ? WAVE_FORMAT_IEEE_FLOAT : WAVE_FORMAT_PCM, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * blockAlign, 28);
  h.writeUInt16LE(blockAlign, 32);
  h.writeUInt16LE(bitsPerSample, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/** Little-endian bytes of 16-bit samples, for writing rendered chunks after `wavHeader`. */
export function int16ToBytes(samples: Int16Array): Buffer {
  const bytes = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
  if (LITTLE_ENDIAN) return Buffer.from(bytes);
  return Buffer.from(bytes).swap16();
}

/** Encodes interleaved samples (see `Pcm` for the scales) as a canonical WAV file. */
export function encodeWav(input: EncodeWavInput): Buffer {
  const format = checkFormat(input);
  const { channels, bitsPerSample, sampleFormat } = format;
  const { samples } = input;
  if (samples.length % channels !== 0) {
    throw new RangeError(`${samples.length} samples do not divide into ${channels} channels`);
  }
  const frames = samples.length / channels;
  const header = wavHeader({ ...format, frames });
  if (bitsPerSample === 16 && samples instanceof Int16Array) {
    return Buffer.concat([header, int16ToBytes(samples)]);
  }
  const dataBytes = samples.length * (bitsPerSample / 8);
  const out = Buffer.alloc(HEADER_BYTES + dataBytes + (dataBytes & 1));
  header.copy(out, 0);
  // Normalise to ±1.0, then quantise; int16 sources scale exactly into 24/32-bit containers.
  const scale = samples instanceof Int16Array ? 1 / 32768 : 1;
  let o = HEADER_BYTES;
  for (let i = 0; i < samples.length; i++) {
    const x = samples[i] * scale;
    if (sampleFormat === 'float') {
      out.writeFloatLE(x, o);
      o += 4;
      continue;
    }
    switch (bitsPerSample) {
      case 8:
        out[o] = clampInt(Math.round(x * 128) + 128, 0, 255);
        o += 1;
        break;
      case 16:
        out.writeInt16LE(clampInt(Math.round(x * 32768), -32768, 32767), o);
        o += 2;
        break;
      case 24:
        out.writeIntLE(clampInt(Math.round(x * 8388608), -8388608, 8388607), o, 3);
        o += 3;
        break;
      default:
        out.writeInt32LE(clampInt(Math.round(x * 2147483648), -2147483648, 2147483647), o);
        o += 4;
    }
  }
  return out;
}

function clampInt(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

interface FmtChunk {
  formatTag: number;
  channels: number;
  sampleRate: number;
  blockAlign: number;
  bitsPerSample: number;
}

function readFmt(buf: Buffer, off: number, size: number): FmtChunk {
  if (size < 16) throw new AudioFormatError('NOT_WAV', `fmt chunk is ${size} bytes, expected at least 16`);
  let formatTag = buf.readUInt16LE(off);
  if (formatTag === WAVE_FORMAT_EXTENSIBLE) {
    // The real format code is the first two bytes of the SubFormat GUID at offset 24.
    if (size < 40) throw new AudioFormatError('NOT_WAV', 'WAVE_FORMAT_EXTENSIBLE fmt chunk is too short');
    formatTag = buf.readUInt16LE(off + 24);
  }
  return {
    formatTag,
    channels: buf.readUInt16LE(off + 2),
    sampleRate: buf.readUInt32LE(off + 4),
    blockAlign: buf.readUInt16LE(off + 12),
    bitsPerSample: buf.readUInt16LE(off + 14),
  };
}

/**
 * Decodes a RIFF/WAVE file: integer PCM (8, 16, 24, 32 bit), IEEE float 32, and their
 * WAVE_FORMAT_EXTENSIBLE forms. Chunks other than `fmt ` and `data` (LIST, fact, bext, …) are
 * skipped. 8- and 16-bit data decode to Int16Array, the rest to Float32Array. 16-bit and float
 * samples may be a view on `buf`'s memory (no copy), so `buf` must not be modified afterwards.
 */
export function decodeWav(buf: Buffer): DecodedWav {
  if (buf.length < 12) throw new AudioFormatError('NOT_WAV', 'too short for a RIFF header');
  const magic = buf.toString('latin1', 0, 4);
  if (magic === 'RF64' || magic === 'RIFX') {
    throw new AudioFormatError('UNSUPPORTED', `${magic} files are not supported`);
  }
  if (magic !== 'RIFF' || buf.toString('latin1', 8, 12) !== 'WAVE') {
    throw new AudioFormatError('NOT_WAV', 'not a RIFF/WAVE file');
  }

  let fmt: FmtChunk | undefined;
  let dataOff = -1;
  let dataSize = 0;
  let off = 12;
  // Walk to the end of the buffer rather than trusting the RIFF size, which streaming writers
  // often leave at 0 or 0xFFFFFFFF.
  while (off + 8 <= buf.length && (fmt === undefined || dataOff < 0)) {
    const id = buf.toString('latin1', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ') {
      if (body + size > buf.length) throw new AudioFormatError('TRUNCATED', 'fmt chunk is truncated');
      fmt = readFmt(buf, body, size);
    } else if (id === 'data') {
      dataOff = body;
      dataSize = size === UNKNOWN_SIZE ? buf.length - body : size;
      if (body + dataSize > buf.length) {
        throw new AudioFormatError(
          'TRUNCATED',
          `data chunk declares ${dataSize} bytes but only ${buf.length - body} are present`,
        );
      }
    }
    off = body + size + (size & 1);
  }
  if (fmt === undefined) throw new AudioFormatError('NOT_WAV', 'no fmt chunk');
  if (dataOff < 0) throw new AudioFormatError('TRUNCATED', 'no data chunk');

  const { formatTag, channels, sampleRate, bitsPerSample } = fmt;
  let sampleFormat: WavSampleFormat;
  if (formatTag === WAVE_FORMAT_PCM && [8, 16, 24, 32].includes(bitsPerSample)) sampleFormat = 'int';
  else if (formatTag === WAVE_FORMAT_IEEE_FLOAT && bitsPerSample === 32) sampleFormat = 'float';
  else {
    throw new AudioFormatError(
      'UNSUPPORTED',
      `unsupported WAV encoding: format 0x${formatTag.toString(16)}, ${bitsPerSample} bits`,
    );
  }
  if (channels < 1 || sampleRate < 1) {
    throw new AudioFormatError('NOT_WAV', `invalid fmt: ${channels} channels at ${sampleRate} Hz`);
  }
  const bytesPerSample = bitsPerSample / 8;
  // A trailing partial frame (a writer killed mid-write) is dropped rather than rejected.
  const frames = Math.floor(dataSize / (bytesPerSample * channels));
  const n = frames * channels;
  const data = buf.subarray(dataOff, dataOff + n * bytesPerSample);
  const samples = decodeSamples(data, n, bitsPerSample, sampleFormat);
  return {
    sampleRate,
    channels,
    bitsPerSample,
    sampleFormat,
    samples,
    frames,
    durationSec: frames / sampleRate,
  };
}

function decodeSamples(
  data: Buffer,
  n: number,
  bits: number,
  sampleFormat: WavSampleFormat,
): Int16Array | Float32Array {
  if (bits === 16 || sampleFormat === 'float') {
    const size = bits / 8;
    // Zero-copy when the data is aligned in memory and already in platform byte order (a buffer
    // from fs.readFile is); otherwise one memcpy into a fresh, aligned array.
    if (LITTLE_ENDIAN && data.byteOffset % size === 0) {
      return bits === 16
        ? new Int16Array(data.buffer, data.byteOffset, n)
        : new Float32Array(data.buffer, data.byteOffset, n);
    }
    const out = bits === 16 ? new Int16Array(n) : new Float32Array(n);
    const bytes = Buffer.from(out.buffer, 0, out.byteLength);
    data.copy(bytes, 0, 0, out.byteLength);
    if (!LITTLE_ENDIAN) {
      if (bits === 16) bytes.swap16();
      else bytes.swap32();
    }
    return out;
  }
  if (bits === 8) {
    const out = new Int16Array(n);
    for (let i = 0; i < n; i++) out[i] = (data[i] - 128) << 8;
    return out;
  }
  const out = new Float32Array(n);
  if (bits === 24) {
    for (let i = 0, o = 0; i < n; i++, o += 3) {
      // Shift the 24-bit value to the top of an int32 and back down to sign-extend it.
      const v = ((data[o] | (data[o + 1] << 8) | (data[o + 2] << 16)) << 8) >> 8;
      out[i] = v / 8388608;
    }
  } else {
    for (let i = 0, o = 0; i < n; i++, o += 4) out[i] = data.readInt32LE(o) / 2147483648;
  }
  return out;
}

/**
 * Interleaves planar channels (the shape WASM decoders such as mpg123-decoder return) into the
 * interleaved Float32Array that `Pcm` and `analyzePcm` take. Channels must be equally long.
 */
export function interleave(planar: readonly Float32Array[]): Float32Array {
  const channels = planar.length;
  if (channels === 0) return new Float32Array(0);
  const frames = planar[0].length;
  if (planar.some((c) => c.length !== frames)) throw new RangeError('channels differ in length');
  const out = new Float32Array(frames * channels);
  for (let c = 0; c < channels; c++) {
    const src = planar[c];
    for (let f = 0, o = c; f < frames; f++, o += channels) out[o] = src[f];
  }
  return out;
}
