/**
 * A 16-bit PCM WAV of music-like content for the audio.analyze scenario: a tone with a click on
 * every beat and a little noise, so that level, silence and tempo analysis all have work to do.
 */
export function benchWav(options: {
  seconds: number;
  sampleRate: number;
  channels: number;
  freqHz: number;
  bpm: number;
  seed: number;
}): Buffer {
  const { seconds, sampleRate, channels, freqHz, bpm } = options;
  const frames = Math.round(seconds * sampleRate);
  const dataBytes = frames * channels * 2;
  const buffer = Buffer.alloc(44 + dataBytes);
  buffer.write('RIFF', 0, 'ascii');
  buffer.writeUInt32LE(36 + dataBytes, 4);
  buffer.write('WAVE', 8, 'ascii');
  buffer.write('fmt ', 12, 'ascii');
  buffer.writeUInt32LE(16, 16);
  buffer.writeUInt16LE(1, 20); // PCM
  buffer.writeUInt16LE(channels, 22);
  buffer.writeUInt32LE(sampleRate, 24);
  buffer.writeUInt32LE(sampleRate * channels * 2, 28);
  buffer.writeUInt16LE(channels * 2, 32);
  buffer.writeUInt16LE(16, 34);
  buffer.write('data', 36, 'ascii');
  buffer.writeUInt32LE(dataBytes, 40);

  const beat = Math.round((60 / bpm) * sampleRate);
  const clickFrames = Math.round(0.01 * sampleRate);
  const w = (2 * Math.PI * freqHz) / sampleRate;
  let noise = options.seed >>> 0 || 1;
  let offset = 44;
  for (let f = 0; f < frames; f++) {
    noise ^= noise << 13;
    noise ^= noise >>> 17;
    noise ^= noise << 5;
    const n = ((noise >>> 0) / 4294967296 - 0.5) * 0.02;
    const click = f % beat < clickFrames ? 0.5 : 0;
    const v = 0.25 * Math.sin(w * f) + click + n;
    const s = Math.max(-32768, Math.min(32767, Math.round(v * 32767)));
    for (let c = 0; c < channels; c++) {
      buffer.writeInt16LE(s, offset);
      offset += 2;
    }
  }
  return buffer;
}
