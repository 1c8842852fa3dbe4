import { MAX_FILENAME_BYTES, suggestFilename, tagsFromCommon } from './tags';

describe('suggestFilename', () => {
  it('names the file "Artist - Title" from the tags', () => {
    expect(suggestFilename({ artist: 'Daft Punk', title: 'One More Time' }, 'track01', 'wav')).toBe(
      'Daft Punk - One More Time.wav',
    );
  });

  it('uses the title alone without an artist, and the fallback without a title', () => {
    expect(suggestFilename({ title: 'Intro' }, 'x', '.mp3')).toBe('Intro.mp3');
    expect(suggestFilename({ artist: 'Someone', album: 'A', track: 2, year: 1999 }, 'take 3', 'flac')).toBe(
      'take 3.flac',
    );
    expect(suggestFilename({ artist: null, title: null }, 'take 3', 'flac')).toBe('take 3.flac');
  });

  it('falls back to "audio" when nothing usable is left', () => {
    expect(suggestFilename({ title: ' \u0000\t ' }, '..', 'wav')).toBe('audio.wav');
  });

  it('removes path separators, so a name cannot leave its directory', () => {
    const name = suggestFilename({ artist: 'AC/DC', title: '../../etc/passwd' }, 'x', 'wav');
    expect(name).toBe('AC_DC - _.._etc_passwd.wav');
    expect(name).not.toMatch(/[/\\]/);
    expect(suggestFilename({}, '/media/in/../secret\\name', 'wav')).toBe('name.wav');
  });

  it('replaces reserved characters and strips control and bidi characters', () => {
    expect(suggestFilename({ title: 'What? <Live> "2020": a|b*c' }, 'x', 'wav')).toBe(
      'What_ _Live_ _2020__ a_b_c.wav',
    );
    expect(suggestFilename({ title: 'line\nbreak\u0007bell' }, 'x', 'wav')).toBe('line break bell.wav');
    expect(suggestFilename({ title: 'evil\u202egnp.exe' }, 'x', 'wav')).toBe('evil gnp.exe.wav');
  });

  it('drops leading and trailing dots and spaces, and guards Windows device names', () => {
    expect(suggestFilename({ title: '  ...hidden. ' }, 'x', 'wav')).toBe('hidden.wav');
    expect(suggestFilename({ title: 'CON' }, 'x', 'wav')).toBe('CON_.wav');
    expect(suggestFilename({ title: 'nul.txt' }, 'x', 'wav')).toBe('nul.txt_.wav');
  });

  it('keeps Unicode, normalised to NFC', () => {
    expect(suggestFilename({ artist: 'Beyonce\u0301', title: 'Déjà Vu' }, 'x', 'wav')).toBe(
      'Beyoncé - Déjà Vu.wav',
    );
  });

  it('bounds the length in UTF-8 bytes without splitting characters', () => {
    const name = suggestFilename({ title: 'é'.repeat(300) }, 'x', 'wav');
    expect(name).toBe(`${'é'.repeat(MAX_FILENAME_BYTES / 2)}.wav`);
    const emoji = suggestFilename({ title: `a${'🎵'.repeat(100)}` }, 'x', 'wav');
    expect(Buffer.byteLength(emoji) - 4).toBeLessThanOrEqual(MAX_FILENAME_BYTES);
    expect(emoji).not.toContain('\ufffd');
    expect(Buffer.from(emoji, 'utf8').toString('utf8')).toBe(emoji);
  });

  it('cleans the extension', () => {
    expect(suggestFilename({ title: 'a' }, 'x', '.WAV')).toBe('a.wav');
    expect(suggestFilename({ title: 'a' }, 'x', '../x/y')).toBe('a.xy');
    expect(suggestFilename({ title: 'a' }, 'x', '')).toBe('a');
  });
});

describe('tagsFromCommon', () => {
  it('maps music-metadata common tags to the result shape', () => {
    expect(
      tagsFromCommon({
        title: ' Song ',
        artist: 'Band',
        album: 'Record',
        year: 2001,
        genre: ['Rock', ' Pop '],
        track: { no: 4 },
      }),
    ).toEqual({ title: 'Song', artist: 'Band', album: 'Record', year: 2001, genre: 'Rock, Pop', track: 4 });
  });

  it('uses null for missing tags and derives the year from a date', () => {
    expect(
      tagsFromCommon({ date: '1987-05-01', artists: ['A', 'B'], genre: [], track: { no: null } }),
    ).toEqual({
      title: null,
      artist: 'A, B',
      album: null,
      year: 1987,
      genre: null,
      track: null,
    });
    expect(tagsFromCommon({ date: 'unknown' }).year).toBeNull();
  });
});
