// audio.analyze and audio.generate against the running services (SPEC §7, issue 7): accuracy on
// files with known properties, path confinement, inputs by fileId, deterministic generation with
// its four steps, cancellation mid-generation, and heavy work kept off the worker's main thread.
import { randomUUID } from 'node:crypto';
import { copyFile, link, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Client } from 'pg';
import { renderSynthWav, type AudioAnalysis } from '@switchyard/handlers';
import { clickTrackWav, silenceThenToneWav, taggedWav, toneWav } from '@switchyard/handlers/testing';
import { TestStack, waitFor, type ServiceProcess, type TestApi, type TestJob } from '@switchyard/testing';
import {
  adminApi,
  adminHeaders,
  hasArtifact,
  parseWithMusicMetadata,
  ProgressEvents,
  readArtifact,
  REPO_ROOT,
  stackDir,
} from './fixtures/handlers-support';

jest.setTimeout(180000);

const at = (iso: string | null | undefined) => (iso ? new Date(iso).getTime() : NaN);

describe('audio handlers', () => {
  let stack: TestStack;
  let api: TestApi;
  let worker: ServiceProcess | undefined;
  let media: string;
  let uploads: string;
  let events: ProgressEvents;

  const put = async (relative: string, bytes: Buffer) => {
    const path = join(media, relative);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, bytes);
    return path;
  };
  const submit = (type: string, payload: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    api.submit({ type, payload, dedupe: false, ...extra });
  const analysisOf = (job: TestJob) => job.result as AudioAnalysis;

  beforeAll(async () => {
    stack = await TestStack.create({ CANCEL_GRACE_MS: '3000' });
    // The gateway's uploads and the worker's `{fileId}` inputs must share this directory.
    stack.env['UPLOADS_DIR'] ??= `tmp/${stack.id}/uploads`;
    uploads = resolve(REPO_ROOT, stack.env['UPLOADS_DIR']);
    media = stackDir(stack, 'MEDIA_ROOT');
    await mkdir(media, { recursive: true });
    await mkdir(uploads, { recursive: true });
    await stack.start(['gateway', 'progress-tracker']);
    api = adminApi(stack);
    events = await ProgressEvents.bind(stack);
  });

  afterEach(async () => {
    await worker?.stop('SIGTERM');
    worker = undefined;
  });

  afterAll(async () => {
    await events?.close();
    await stack?.destroy();
    if (stack) await rm(resolve(REPO_ROOT, 'tmp', stack.id), { recursive: true, force: true });
  });

  it('analyses files with known properties: exact format, peak, silence ratio, tempo and tags', async () => {
    worker = await stack.spawn('worker');
    await put('tones/a440.wav', toneWav({ freqHz: 440, dbfs: -6, durationSec: 3 }));
    await put('silence-then-tone.wav', silenceThenToneWav({ silenceSec: 1, toneSec: 2, channels: 1 }));
    await put('click-120.wav', clickTrackWav({ bpm: 120, durationSec: 20 }));
    await put(
      'tagged.wav',
      taggedWav({
        durationSec: 1.5,
        channels: 1,
        tags: {
          title: 'Blue Hour',
          artist: 'Søren & The Testers',
          album: 'Fixtures',
          year: 2024,
          genre: 'Ambient',
          track: 7,
        },
      }),
    );
    const ids = {
      tone: await submit('audio.analyze', { path: 'tones/a440.wav' }),
      silence: await submit('audio.analyze', { path: 'silence-then-tone.wav' }),
      click: await submit('audio.analyze', { path: 'click-120.wav' }),
      tagged: await submit('audio.analyze', { path: 'tagged.wav' }),
    };
    const [tone, silence, click, tagged] = await Promise.all(
      [ids.tone, ids.silence, ids.click, ids.tagged].map((id) => api.waitForStatus(id, 'completed', 30000)),
    );

    const t = analysisOf(tone);
    expect(t.format).toMatchObject({
      container: 'WAVE',
      codec: 'PCM',
      sampleRate: 44100,
      channels: 2,
      bitsPerSample: 16,
      durationSec: 3,
      bitrate: 1411200,
    });
    expect(Math.abs(t.features!.peakDbfs - -6)).toBeLessThanOrEqual(0.5);
    // A sine's RMS is 3.01 dB below its peak.
    expect(Math.abs(t.features!.rmsDbfs - -9.01)).toBeLessThanOrEqual(0.5);
    expect(t.features!.silenceRatio).toBe(0);
    expect(t.suggestedFilename).toBe('a440.wav');

    const s = analysisOf(silence);
    expect(s.format).toMatchObject({ sampleRate: 44100, channels: 1, durationSec: 3 });
    expect(Math.abs(s.features!.silenceRatio - 1 / 3)).toBeLessThanOrEqual(0.05);

    const c = analysisOf(click);
    expect(c.format.durationSec).toBe(20);
    expect(c.features!.tempoBpm).not.toBeNull();
    expect(Math.abs(c.features!.tempoBpm! - 120)).toBeLessThanOrEqual(2);

    expect(analysisOf(tagged)).toMatchObject({
      format: { container: 'WAVE', channels: 1, durationSec: 1.5 },
      tags: {
        title: 'Blue Hour',
        artist: 'Søren & The Testers',
        album: 'Fixtures',
        year: 2024,
        genre: 'Ambient',
        track: 7,
      },
      suggestedFilename: 'Søren & The Testers - Blue Hour.wav',
    });
    expect(tone.attempts).toBe(1);
  });

  it('decodes MP3, FLAC and Ogg Vorbis for features too', async () => {
    worker = await stack.spawn('worker');
    const formats = [
      ['mp3', 'MPEG', 'MPEG 1 Layer 3'],
      ['flac', 'FLAC', 'FLAC'],
      ['ogg', 'Ogg', 'Vorbis I'],
    ] as const;
    await mkdir(join(media, 'compressed'), { recursive: true });
    const ids: string[] = [];
    for (const [ext] of formats) {
      const name = `tone-440hz-6dbfs.${ext}`;
      await copyFile(resolve(__dirname, 'fixtures', 'audio', name), join(media, 'compressed', name));
      ids.push(await submit('audio.analyze', { path: `compressed/${name}` }));
    }
    const jobs = await Promise.all(ids.map((id) => api.waitForStatus(id, 'completed', 30000)));
    for (const [i, [ext, container, codec]] of formats.entries()) {
      const analysis = analysisOf(jobs[i]);
      expect({ ext, format: analysis.format }).toMatchObject({
        format: { container, codec, sampleRate: 44100, channels: 2 },
      });
      // MP3 frames pad the end a little; the others are exact.
      expect(Math.abs(analysis.format.durationSec! - 2)).toBeLessThan(0.06);
      expect(analysis.featuresUnavailableReason).toBeUndefined();
      expect(Math.abs(analysis.features!.peakDbfs - -6)).toBeLessThanOrEqual(0.5);
      expect(analysis.features!.silenceRatio).toBe(0);
      expect(analysis.suggestedFilename).toBe(`tone-440hz-6dbfs.${ext}`);
    }
  });

  it('refuses absolute paths and ".." segments at submission with 400 validation_failed', async () => {
    const outside = resolve(media, '..', 'outside.wav');
    for (const path of ['../outside.wav', 'tones/../../outside.wav', outside, 'tones/..']) {
      const res = await api.post<{ error: { code: string; details: { field: string }[] } }>('/jobs', {
        type: 'audio.analyze',
        payload: { path },
        dedupe: false,
      });
      expect({ path, status: res.status, code: res.body.error?.code }).toEqual({
        path,
        status: 400,
        code: 'validation_failed',
      });
      expect(res.body.error.details.map((d) => d.field)).toContain('payload.path');
    }
  });

  it('refuses paths that leave MEDIA_ROOT through links with invalid_payload, at once and without retrying', async () => {
    worker = await stack.spawn('worker');
    const outside = resolve(media, '..', 'outside.wav');
    await writeFile(outside, toneWav({ durationSec: 1 }));
    await symlink(outside, join(media, 'escape.wav'));
    await symlink(resolve(media, '..'), join(media, 'parent'));
    await put('notes.txt', Buffer.from('not audio at all\n'.repeat(100)));

    const cases: [Record<string, unknown>, string][] = [
      [{ path: 'escape.wav' }, 'invalid_payload'],
      [{ path: 'parent/outside.wav' }, 'invalid_payload'],
      [{ path: 'missing.wav' }, 'file_not_found'],
      [{ path: 'notes.txt' }, 'unsupported_format'],
    ];
    const ids = await Promise.all(
      cases.map(([payload]) => submit('audio.analyze', payload, { maxAttempts: 3 })),
    );
    for (const [i, id] of ids.entries()) {
      const job = await api.waitForStatus(id, 'failed', 20000);
      expect({ payload: cases[i][0], attempts: job.attempts, error: job.error }).toMatchObject({
        attempts: 1,
        error: { code: cases[i][1], retryable: false },
      });
    }
  });

  it('analyses uploads by fileId, only for the tenant that owns them', async () => {
    worker = await stack.spawn('worker');
    const bytes = taggedWav({ durationSec: 2, tags: { title: 'Uploaded', artist: 'Client' } });
    const upload = async () => {
      const response = await fetch(`${stack.service('gateway').url}/api/v1/files`, {
        method: 'POST',
        headers: { ...adminHeaders, 'content-type': 'audio/wav' },
        body: bytes,
      });
      expect(response.status).toBe(201);
      return ((await response.json()) as { fileId: string }).fileId;
    };
    // Through the gateway: POST /files stores the bytes in UPLOADS_DIR, where the worker reads them.
    const mine = await upload();
    const ok = await api.waitForStatus(await submit('audio.analyze', { fileId: mine }), 'completed', 20000);
    expect(analysisOf(ok)).toMatchObject({
      format: { durationSec: 2, sampleRate: 44100 },
      tags: { title: 'Uploaded', artist: 'Client' },
      suggestedFilename: 'Client - Uploaded.wav',
    });

    // Registered, but its bytes are no longer on this worker's disk.
    const gone = await upload();
    await rm(join(uploads, gone));
    const missing = await api.waitForStatus(await submit('audio.analyze', { fileId: gone }), 'failed', 20000);
    expect(missing).toMatchObject({ attempts: 1, error: { code: 'file_not_found', retryable: false } });

    // Another tenant's upload is never analysed for this one: refused on submission by the
    // gateway, or (for an admin key, which may name any file) by the worker, which checks the owner.
    const tenant = (ok as TestJob & { tenant: string }).tenant;
    const theirs = randomUUID();
    await writeFile(join(uploads, theirs), bytes);
    const db = new Client({ connectionString: stack.db.url });
    await db.connect();
    try {
      await db.query(
        `INSERT INTO files (id, tenant, name, content_type, size, sha256) VALUES ($1, $2, 'x.wav', 'audio/wav', $3, 'x')`,
        [theirs, `${tenant}-other`, bytes.length],
      );
    } finally {
      await db.end();
    }
    const response = await api.post<TestJob>('/jobs', { type: 'audio.analyze', payload: { fileId: theirs } });
    if (response.status === 202) {
      const job = await api.waitForStatus(response.body.id, 'failed', 20000);
      expect(job.error).toMatchObject({ code: 'file_not_found', retryable: false });
    } else {
      expect(response.status).toBe(400);
    }
  });

  it('generates byte-identical WAV files for the same prompt and seed, through the four steps', async () => {
    worker = await stack.spawn('worker');
    const payload = { prompt: 'calm piano at night, 90 bpm', durationSec: 3, seed: 1234 };
    const first = await submit('audio.generate', payload);
    const second = await submit('audio.generate', payload);
    const other = await submit('audio.generate', { ...payload, seed: 1235 });
    const jobs = await Promise.all(
      [first, second, other].map((id) => api.waitForStatus(id, 'completed', 30000)),
    );
    const [a, b, c] = await Promise.all([first, second, other].map((id) => readArtifact(stack, id)));

    expect(a.contentType).toBe('audio/wav');
    expect(a.bytes.equals(b.bytes)).toBe(true);
    expect(a.bytes.equals(c.bytes)).toBe(false);
    // The same bytes as rendering here, in another process and without the thread pool.
    expect(a.bytes.equals(renderSynthWav(payload))).toBe(true);
    expect(jobs[0].result).toMatchObject({ seed: 1234, bytes: a.bytes.length, format: { durationSec: 3 } });

    const paths = [first, other].map((id) => join(stackDir(stack, 'ARTIFACTS_DIR'), id, 'data'));
    const parsed = parseWithMusicMetadata(paths);
    for (const p of parsed) {
      expect(p.format).toMatchObject({
        container: 'WAVE',
        codec: 'PCM',
        sampleRate: 44100,
        numberOfChannels: 2,
      });
      expect(p.format.duration).toBe(3);
    }

    const steps = await waitFor(
      () => {
        const seen = events.of(first).map((e) => e.step);
        return seen.includes('saving') ? seen : undefined;
      },
      { what: 'progress events of the first generation' },
    );
    const order = ['loading_model', 'encoding_prompt', 'generating', 'saving'];
    expect([...new Set(steps)].filter((step) => order.includes(step ?? ''))).toEqual(order);
    const progress = events.of(first).map((e) => e.progress);
    expect(progress).toEqual([...progress].sort((x, y) => x - y));
  });

  it('cancels a running generation mid-way: the job ends cancelled and stores nothing', async () => {
    worker = await stack.spawn('worker');
    const id = await submit('audio.generate', {
      prompt: 'a long drone for cancelling',
      durationSec: 120,
      seed: 3,
    });
    await api.waitForJob(
      id,
      (job) => job.status === 'running' && job.step === 'generating' && job.progress >= 10,
      30000,
    );
    const cancelledAt = Date.now();
    const cancel = await api.delete<TestJob>(`/jobs/${id}`);
    expect(cancel.status).toBe(202);
    const job = await api.waitForStatus(id, 'cancelled', 10000);
    expect(at(job.finishedAt) - cancelledAt).toBeLessThan(5000);
    expect(job.progress).toBeLessThan(90);
    expect(await hasArtifact(stack, id)).toBe(false);
    // The worker is fine afterwards: the next generation completes.
    const next = await submit('audio.generate', { prompt: 'after the cancel', durationSec: 1 });
    await api.waitForStatus(next, 'completed', 20000);
  });

  it('keeps answering /health/live and starts a synthetic job within 1 s while 4 analyses of 60 s files run', async () => {
    // One CPU thread: the four analyses queue on it for seconds, on the main thread they would
    // block the event loop for as long.
    worker = await stack.spawn('worker', { WORKER_CPU_THREADS: '1', WORKER_CONCURRENCY: '8' });
    const big = await put(
      'big/0.wav',
      toneWav({ durationSec: 60, sampleRate: 96000, channels: 8, bitsPerSample: 24 }),
    );
    for (let i = 1; i < 4; i++) await link(big, join(media, 'big', `${i}.wav`));
    const liveUrl = `${worker.url}/health/live`;
    const latencies: number[] = [];
    let probing = true;
    const prober = (async () => {
      while (probing) {
        const started = Date.now();
        const response = await fetch(liveUrl);
        expect(response.status).toBe(200);
        latencies.push(Date.now() - started);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    const analyses = await Promise.all(
      [0, 1, 2, 3].map((i) => submit('audio.analyze', { path: `big/${i}.wav` })),
    );
    await waitFor(
      async () => (await Promise.all(analyses.map((id) => api.job(id)))).every((j) => j.status === 'running'),
      {
        timeoutMs: 20000,
        what: 'all four analyses running',
      },
    );
    const synthetic = await submit('synthetic', {});
    const quick = await api.waitForStatus(synthetic, 'completed', 10000);
    const done = await Promise.all(analyses.map((id) => api.waitForStatus(id, 'completed', 120000)));
    probing = false;
    await prober;

    expect(at(quick.startedAt) - at(quick.createdAt)).toBeLessThan(1000);
    // It really ran while the analyses were still working.
    expect(at(quick.finishedAt)).toBeLessThan(Math.max(...done.map((j) => at(j.finishedAt))));
    expect(latencies.length).toBeGreaterThan(5);
    expect(Math.max(...latencies)).toBeLessThan(1000);
    for (const job of done) {
      expect(analysisOf(job).format).toMatchObject({
        sampleRate: 96000,
        channels: 8,
        bitsPerSample: 24,
        durationSec: 60,
      });
    }
  });
});
