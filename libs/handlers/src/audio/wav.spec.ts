import {
  AudioFormatError,
  decodeWav,
  encodeWav,
  int16ToBytes,
  interleave,
  wavHeader,
  type AudioFormatErrorCode,
} from './wav';

/** A short ramp through the whole 16-bit range, both extremes included. */
function int16Ramp(frames: number, channels: number): Int16Array {
  const out = new Int16Array(frames * channels);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(-32768 + (65535 * i) / (out.length - 1));
  return out;
}

function chunk(id: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.write(id, 0, 'latin1');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat(body.length % 2 === 1 ? [head, body, Buffer.alloc(1)] : [head, body]);
}

function riff(...chunks: Buffer[]): Buffer {
  const body = Buffer.concat([Buffer.from('WAVE', 'latin1'), ...chunks]);
  const head = Buffer.alloc(8);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body]);
}

/** A WAVE_FORMAT_EXTENSIBLE fmt chunk body whose SubFormat GUID starts with `subFormat`. */
function extensibleFmt(subFormat: number, channels: number, sampleRate: number, bits: number): Buffer {
  const fmt = Buffer.alloc(40);
  fmt.writeUInt16LE(0xfffe, 0);
  fmt.writeUInt16LE(channels, 2);
  fmt.writeUInt32LE(sampleRate, 4);
  fmt.writeUInt32LE((sampleRate * channels * bits) / 8, 8);
  fmt.writeUInt16LE((channels * bits) / 8, 12);
  fmt.writeUInt16LE(bits, 14);
  fmt.writeUInt16LE(22, 16);
  fmt.writeUInt16LE(bits, 18);
  fmt.writeUInt32LE(channels === 2 ? 3 : 4, 20);
  fmt.writeUInt16LE(subFormat, 24);
  Buffer.from('000000001000800000aa00389b71', 'hex').copy(fmt, 26);
  return fmt;
}

function expectFormatError(buf: Buffer, code: AudioFormatErrorCode, message: RegExp): void {
  let caught: unknown;
  try {
    decodeWav(buf);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(AudioFormatError);
  expect(caught).toMatchObject({ name: 'AudioFormatError', code });
  expect((caught as Error).message).toMatch(message);
}

describe('encodeWav / decodeWav', () => {
  const samples = int16Ramp(1001, 2);

  it('round-trips 16-bit PCM exactly, with a canonical 44-byte header', () => {
    const wav = encodeWav({ sampleRate: 48000, channels: 2, bitsPerSample: 16, samples });
    expect(wav.length).toBe(44 + samples.length * 2);
    expect(wav.toString('latin1', 0, 4)).toBe('RIFF');
    expect(wav.readUInt32LE(4)).toBe(wav.length - 8);
    const decoded = decodeWav(wav);
    expect(decoded).toMatchObject({
      sampleRate: 48000,
      channels: 2,
      bitsPerSample: 16,
      sampleFormat: 'int',
      frames: 1001,
    });
    expect(decoded.durationSec).toBeCloseTo(1001 / 48000, 12);
    expect(decoded.samples).toBeInstanceOf(Int16Array);
    expect(Array.from(decoded.samples)).toEqual(Array.from(samples));
  });

  it('round-trips 8-bit PCM for values it can represent', () => {
    const coarse = samples.map((s) => s & ~0xff);
    const wav = encodeWav({ sampleRate: 8000, channels: 2, bitsPerSample: 8, samples: coarse });
    expect(wav.length).toBe(44 + coarse.length);
    const decoded = decodeWav(wav);
    expect(decoded.bitsPerSample).toBe(8);
    expect(Array.from(decoded.samples)).toEqual(Array.from(coarse));
  });

  it.each([24, 32] as const)('round-trips %i-bit PCM from 16-bit sources exactly', (bits) => {
    const wav = encodeWav({ sampleRate: 44100, channels: 2, bitsPerSample: bits, samples });
    expect(wav.length).toBe(44 + (samples.length * bits) / 8);
    const decoded = decodeWav(wav);
    expect(decoded).toMatchObject({ bitsPerSample: bits, sampleFormat: 'int', frames: 1001 });
    expect(decoded.samples).toBeInstanceOf(Float32Array);
    expect(Array.from(decoded.samples, (x) => x * 32768)).toEqual(Array.from(samples));
  });

  it('keeps 24-bit resolution', () => {
    const fine = Float32Array.from([1 / 8388608, -1 / 8388608, 0.5 + 3 / 8388608, -1]);
    const decoded = decodeWav(
      encodeWav({ sampleRate: 44100, channels: 1, bitsPerSample: 24, samples: fine }),
    );
    expect(Array.from(decoded.samples)).toEqual(Array.from(fine));
  });

  it('round-trips IEEE float 32 exactly', () => {
    const floats = Float32Array.from([0, 0.25, -0.5, 1, -1, 1.5, 1e-9]);
    const wav = encodeWav({
      sampleRate: 22050,
      channels: 1,
      bitsPerSample: 32,
      sampleFormat: 'float',
      samples: floats,
    });
    expect(wav.readUInt16LE(20)).toBe(3);
    const decoded = decodeWav(wav);
    expect(decoded).toMatchObject({ bitsPerSample: 32, sampleFormat: 'float', channels: 1, frames: 7 });
    expect(Array.from(decoded.samples)).toEqual(Array.from(floats));
  });

  it('clamps out-of-range values when quantising', () => {
    const decoded = decodeWav(
      encodeWav({ sampleRate: 8000, channels: 1, bitsPerSample: 16, samples: Float32Array.from([2, -2]) }),
    );
    expect(Array.from(decoded.samples)).toEqual([32767, -32768]);
  });

  it('rejects inconsistent input', () => {
    expect(() =>
      encodeWav({ sampleRate: 8000, channels: 2, bitsPerSample: 16, samples: new Int16Array(3) }),
    ).toThrow(RangeError);
    expect(() =>
      encodeWav({ sampleRate: 8000, channels: 1, bitsPerSample: 12, samples: new Int16Array(2) }),
    ).toThrow(RangeError);
  });
});

describe('wavHeader', () => {
  it('matches the header encodeWav writes, so a streamed file equals the in-memory one', () => {
    const samples = int16Ramp(333, 2);
    const wav = encodeWav({ sampleRate: 44100, channels: 2, bitsPerSample: 16, samples });
    const streamed = Buffer.concat([
      wavHeader({ sampleRate: 44100, channels: 2, bitsPerSample: 16, frames: 333 }),
      int16ToBytes(samples.subarray(0, 100)),
      int16ToBytes(samples.subarray(100)),
    ]);
    expect(streamed.equals(wav)).toBe(true);
  });

  it('writes little-endian sample bytes', () => {
    expect([...int16ToBytes(Int16Array.from([0x0102, -2]))]).toEqual([0x02, 0x01, 0xfe, 0xff]);
  });
});

describe('decodeWav chunk handling', () => {
  const pcm = encodeWav({ sampleRate: 44100, channels: 2, bitsPerSample: 16, samples: int16Ramp(10, 2) });
  const fmt = pcm.subarray(20, 36);
  const data = pcm.subarray(44);

  it('skips LIST and unknown chunks, including odd-sized ones with a pad byte', () => {
    const wav = riff(
      chunk('JUNK', Buffer.alloc(7)),
      chunk('fmt ', fmt),
      chunk('LIST', Buffer.from('INFOINAM\x03\x00\x00\x00ab\x00\x00', 'latin1')),
      chunk('data', data),
      chunk('id3 ', Buffer.alloc(5)),
    );
    const decoded = decodeWav(wav);
    expect(decoded.frames).toBe(10);
    expect(Array.from(decoded.samples)).toEqual(Array.from(int16Ramp(10, 2)));
  });

  it('reads data that starts at an odd byte offset of the buffer', () => {
    const shifted = Buffer.alloc(pcm.length + 1);
    pcm.copy(shifted, 1);
    const decoded = decodeWav(shifted.subarray(1));
    expect(Array.from(decoded.samples)).toEqual(Array.from(int16Ramp(10, 2)));
  });

  it.each([
    [1, 24, 'int'],
    [3, 32, 'float'],
  ] as const)('decodes WAVE_FORMAT_EXTENSIBLE with sub-format %i', (subFormat, bits, sampleFormat) => {
    const source = Float32Array.from([0.5, -0.25, 0.125, -1]);
    const plain = encodeWav({
      sampleRate: 96000,
      channels: 2,
      bitsPerSample: bits,
      sampleFormat,
      samples: source,
    });
    const wav = riff(
      chunk('fmt ', extensibleFmt(subFormat, 2, 96000, bits)),
      chunk('data', plain.subarray(44)),
    );
    const decoded = decodeWav(wav);
    expect(decoded).toMatchObject({
      sampleRate: 96000,
      channels: 2,
      bitsPerSample: bits,
      sampleFormat,
      frames: 2,
    });
    expect(Array.from(decoded.samples)).toEqual(Array.from(source));
  });

  it('reads to the end when a streaming writer left the data size unset (0xFFFFFFFF)', () => {
    const wav = Buffer.from(pcm);
    wav.writeUInt32LE(0xffffffff, 40);
    wav.writeUInt32LE(0xffffffff, 4);
    expect(decodeWav(wav).frames).toBe(10);
  });

  it('drops a trailing partial frame', () => {
    const wav = riff(chunk('fmt ', fmt), chunk('data', data.subarray(0, data.length - 3)));
    expect(decodeWav(wav).frames).toBe(9);
  });

  it('rejects data that is not WAV', () => {
    expectFormatError(Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00'), 'NOT_WAV', /too short/);
    expectFormatError(
      Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00'),
      'NOT_WAV',
      /not a RIFF\/WAVE/,
    );
    expectFormatError(Buffer.from('RIFF\x04\x00\x00\x00AVI LIST'), 'NOT_WAV', /not a RIFF\/WAVE/);
    expectFormatError(riff(chunk('data', data)), 'NOT_WAV', /no fmt chunk/);
  });

  it('rejects truncated files', () => {
    expectFormatError(pcm.subarray(0, 60), 'TRUNCATED', /data chunk declares 40 bytes but only 16/);
    expectFormatError(pcm.subarray(0, 30), 'TRUNCATED', /fmt chunk is truncated/);
    expectFormatError(pcm.subarray(0, 36), 'TRUNCATED', /no data chunk/);
  });

  it('rejects encodings it cannot decode', () => {
    const adpcm = Buffer.from(fmt);
    adpcm.writeUInt16LE(2, 0);
    expectFormatError(riff(chunk('fmt ', adpcm), chunk('data', data)), 'UNSUPPORTED', /format 0x2, 16 bits/);
    const rf64 = Buffer.from(pcm);
    rf64.write('RF64', 0, 'latin1');
    expectFormatError(rf64, 'UNSUPPORTED', /RF64/);
  });
});

describe('interleave', () => {
  it('interleaves planar channels frame by frame', () => {
    const out = interleave([Float32Array.from([1, 2, 3]), Float32Array.from([-1, -2, -3])]);
    expect(Array.from(out)).toEqual([1, -1, 2, -2, 3, -3]);
    expect(interleave([])).toHaveLength(0);
    expect(() => interleave([new Float32Array(2), new Float32Array(3)])).toThrow(RangeError);
  });
});
