import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzePcm } from './analysis';
import { analyzeAudioFile, type MetadataParser } from './analyze-task';
import { clickTrackWav, toneWav } from './fixtures';
import { decodeWav } from './wav';

// music-metadata is ESM-only (loaded by the pool thread); a WAV-only stand-in is enough here.
const parse: MetadataParser = (bytes) => {
  const wav = decodeWav(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return new Promise((resolve) =>
    // A macrotask, so concurrent analyses on one thread really interleave.
    setImmediate(() =>
      resolve({ format: { container: 'WAVE', sampleRate: wav.sampleRate }, common: { title: undefined } }),
    ),
  );
};

describe('analyzeAudioFile', () => {
  let base: string;
  let root: string;
  const tone = toneWav({ freqHz: 440, dbfs: -6, durationSec: 2, channels: 2 });
  const clicks = clickTrackWav({ bpm: 120, durationSec: 8, channels: 1 });
  const big = toneWav({ freqHz: 220, dbfs: -20, durationSec: 12, channels: 2 });

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'analyze-'));
    root = join(base, 'media');
    await mkdir(join(root, 'album'), { recursive: true });
    await writeFile(join(root, 'album', 'tone.wav'), tone);
    await writeFile(join(root, 'album', 'clicks.wav'), clicks);
    await writeFile(join(root, 'album', 'big.wav'), big);
    await writeFile(join(base, 'secret.wav'), tone);
    await symlink(join(base, 'secret.wav'), join(root, 'escape.wav'));
  });
  afterAll(() => rm(base, { recursive: true, force: true }));

  it('confines a path relative to mediaRoot on the thread, with the handler error codes', async () => {
    const run = (path: string) => analyzeAudioFile({ path, mediaRoot: root, fallbackName: 'x' }, parse);
    await expect(run('escape.wav')).resolves.toMatchObject({ ok: false, code: 'invalid_payload' });
    await expect(run('album')).resolves.toMatchObject({ ok: false, code: 'invalid_payload' });
    await expect(run('../secret.wav')).resolves.toMatchObject({ ok: false, code: 'invalid_payload' });
    await expect(run('album/none.wav')).resolves.toMatchObject({ ok: false, code: 'file_not_found' });
    await expect(run('album/tone.wav')).resolves.toMatchObject({
      ok: true,
      analysis: { suggestedFilename: 'x.wav', format: { sampleRate: 44100, channels: 2 } },
    });
  });

  it('reports a missing absolute path as file_not_found', async () => {
    await expect(
      analyzeAudioFile({ path: join(root, 'none.wav'), fallbackName: 'x' }, parse),
    ).resolves.toMatchObject({ ok: false, code: 'file_not_found' });
  });

  it('gives each of several interleaved analyses its own file (the reused read buffer)', async () => {
    const files = ['album/big.wav', 'album/tone.wav', 'album/clicks.wav', 'album/tone.wav', 'album/big.wav'];
    const expected = [big, tone, clicks, tone, big].map((wav) => analyzePcm(decodeWav(wav)));
    // Sequential first (the buffer is reused, large file before small), then concurrent.
    for (const [i, path] of files.entries()) {
      const outcome = await analyzeAudioFile({ path, mediaRoot: root, fallbackName: 'x' }, parse);
      expect(outcome).toMatchObject({ ok: true, analysis: { features: expected[i] } });
    }
    const outcomes = await Promise.all(
      files.map((path) => analyzeAudioFile({ path, mediaRoot: root, fallbackName: 'x' }, parse)),
    );
    outcomes.forEach((outcome, i) => {
      expect(outcome).toMatchObject({ ok: true, analysis: { features: expected[i] } });
    });
  });
});
