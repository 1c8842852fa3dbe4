import { PermanentError, type ArtifactRef, type ArtifactWriter } from '@switchyard/handler-sdk';
import { boundInlineResult, cleanText, PROGRESS_MESSAGE_MAX, PROGRESS_STEP_MAX } from './output-bounds';

describe('cleanText', () => {
  it('keeps ordinary text and null as they are', () => {
    expect(cleanText('generating', PROGRESS_STEP_MAX)).toEqual({ text: 'generating', changes: [] });
    expect(cleanText(undefined, PROGRESS_STEP_MAX)).toEqual({ text: null, changes: [] });
    expect(cleanText('naïve 🎵', PROGRESS_MESSAGE_MAX)).toEqual({ text: 'naïve 🎵', changes: [] });
  });

  it('replaces U+0000 and lone surrogates, which PostgreSQL text cannot store', () => {
    const cleaned = cleanText('a\u0000b\uD800c\uDC00d', PROGRESS_MESSAGE_MAX);
    expect(cleaned.text).toBe('a\uFFFDb\uFFFDc\uFFFDd');
    expect(cleaned.changes).toEqual(['unstorable characters replaced']);
  });

  it('cuts to the limit without splitting a surrogate pair', () => {
    expect(cleanText('x'.repeat(100), PROGRESS_STEP_MAX).text).toHaveLength(64);
    const cut = cleanText(`${'x'.repeat(63)}🎵`, PROGRESS_STEP_MAX);
    expect(cut.text).toBe('x'.repeat(63));
    expect(cut.changes).toEqual(['truncated to 64 characters']);
  });

  it('turns a non-string into text', () => {
    expect(cleanText(42, PROGRESS_STEP_MAX)).toEqual({ text: '42', changes: ['not a string'] });
  });
});

describe('boundInlineResult', () => {
  const writer = () => {
    const puts: { name: string; contentType: string; data: Buffer }[] = [];
    const artifacts: ArtifactWriter = {
      put: (name, contentType, data) => {
        if (!Buffer.isBuffer(data)) throw new Error('expected a buffer');
        puts.push({ name, contentType, data });
        return Promise.resolve({ jobId: 'j', name, contentType, size: data.length, sha256: 'h' });
      },
    };
    return { puts, artifacts };
  };

  it('keeps a result at the limit inline', async () => {
    const { puts, artifacts } = writer();
    const result = { text: 'x'.repeat(90) }; // {"text":"…"} = 101 bytes
    expect(await boundInlineResult({ result }, 101, artifacts)).toEqual({ result, spilled: false });
    expect(puts).toEqual([]);
  });

  it('stores a larger one as the job’s JSON artifact', async () => {
    const { puts, artifacts } = writer();
    const result = { text: 'x'.repeat(91) };
    const bounded = await boundInlineResult({ result }, 101, artifacts);
    expect(bounded).toMatchObject({
      result: null,
      spilled: true,
      artifact: { name: 'result.json', size: 102 },
    });
    expect(puts).toHaveLength(1);
    expect(puts[0].contentType).toBe('application/json');
    expect(JSON.parse(puts[0].data.toString())).toEqual(result);
  });

  it('fails the job when the handler already wrote an artifact', async () => {
    const { artifacts } = writer();
    const artifact: ArtifactRef = {
      jobId: 'j',
      name: 'a.wav',
      contentType: 'audio/wav',
      size: 1,
      sha256: 'h',
    };
    await expect(boundInlineResult({ result: 'y'.repeat(200), artifact }, 100, artifacts)).rejects.toEqual(
      expect.objectContaining({ code: 'result_too_large' }),
    );
    await expect(
      boundInlineResult({ result: 'y'.repeat(200), artifact }, 100, artifacts),
    ).rejects.toBeInstanceOf(PermanentError);
  });
});
