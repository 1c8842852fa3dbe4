import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { clickTrackWav, silenceThenToneWav, taggedWav, toneWav } from './fixtures';
import { renderSynthWav } from './synth';
import { suggestFilename, tagsFromCommon, type CommonTagsLike } from './tags';
import { decodeWav } from './wav';

interface ParsedFile {
  format: {
    container?: string;
    codec?: string;
    sampleRate?: number;
    numberOfChannels?: number;
    duration?: number;
  };
  common: CommonTagsLike;
}

/**
 * Reads files with music-metadata in a child Node process: the package is ESM-only, which plain
 * Node loads natively but Jest's CommonJS runtime cannot without extra transform configuration.
 */
function parseWithMusicMetadata(paths: string[]): ParsedFile[] {
  const script = `
    import { parseFile } from 'music-metadata';
    const out = [];
    for (const p of JSON.parse(process.argv[1])) {
      const { format, common } = await parseFile(p);
      out.push({ format, common });
    }
    process.stdout.write(JSON.stringify(out));
  `;
  const repoRoot = resolve(__dirname, '../../../..');
  const stdout = execFileSync(
    process.execPath,
    ['--input-type=module', '-e', script, JSON.stringify(paths)],
    {
      cwd: repoRoot,
      encoding: 'utf8',
    },
  );
  return JSON.parse(stdout) as ParsedFile[];
}

describe('fixtures read by music-metadata', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'switchyard-audio-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the LIST/INFO tags of taggedWav and the duration of synthesised WAVs', () => {
    const tagged = join(dir, 'tagged.wav');
    writeFileSync(
      tagged,
      taggedWav({
        tags: {
          title: 'Blue Hour',
          artist: 'Søren & The Testers',
          album: 'Fixtures',
          year: 2024,
          genre: 'Ambient',
          track: 7,
        },
        durationSec: 1.5,
        channels: 1,
      }),
    );
    const synthFiles = [1, 7].map((durationSec) => {
      const path = join(dir, `synth-${durationSec}.wav`);
      writeFileSync(path, renderSynthWav({ prompt: 'metadata check', durationSec, seed: 5 }));
      return path;
    });

    const [tags, ...synth] = parseWithMusicMetadata([tagged, ...synthFiles]);
    expect(tags.format).toMatchObject({
      container: 'WAVE',
      codec: 'PCM',
      sampleRate: 44100,
      numberOfChannels: 1,
      duration: 1.5,
    });
    const mapped = tagsFromCommon(tags.common);
    expect(mapped).toEqual({
      title: 'Blue Hour',
      artist: 'Søren & The Testers',
      album: 'Fixtures',
      year: 2024,
      genre: 'Ambient',
      track: 7,
    });
    expect(suggestFilename(mapped, 'tagged', 'wav')).toBe('Søren & The Testers - Blue Hour.wav');
    expect(synth.map((s) => s.format.duration)).toEqual([1, 7]);
    expect(synth[1].format).toMatchObject({ sampleRate: 44100, numberOfChannels: 2 });
  });
});

describe('fixtures', () => {
  it('generate the requested format and length', () => {
    expect(decodeWav(toneWav({ durationSec: 0.5, sampleRate: 16000, channels: 1 }))).toMatchObject({
      sampleRate: 16000,
      channels: 1,
      frames: 8000,
    });
    expect(decodeWav(silenceThenToneWav({ silenceSec: 1, toneSec: 2 })).durationSec).toBe(3);
    expect(decodeWav(clickTrackWav({ bpm: 120, durationSec: 4, bitsPerSample: 24 }))).toMatchObject({
      bitsPerSample: 24,
      durationSec: 4,
    });
  });

  it('put clicks exactly on the beat', () => {
    const { samples } = decodeWav(clickTrackWav({ bpm: 120, durationSec: 2, channels: 1 }));
    const onsets: number[] = [];
    for (let i = 0; i < samples.length; i++) {
      if (
        samples[i] !== 0 &&
        (i === 0 || samples[i - 1] === 0) &&
        (onsets.length === 0 || i - onsets[onsets.length - 1] > 1000)
      ) {
        onsets.push(i);
      }
    }
    expect(onsets).toEqual([1, 22051, 44101, 66151]);
  });

  it('keep taggedWav decodable by our own reader', () => {
    const decoded = decodeWav(taggedWav({ tags: { title: 'x' }, durationSec: 1 }));
    expect(decoded.durationSec).toBe(1);
  });
});
