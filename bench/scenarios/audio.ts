import { link, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cpuMark, cpuReport, ROOT, submitBatches } from '../harness';
import { round } from '../stats';
import { benchWav } from '../wav';
import { atLeast, type ScenarioContext, type ScenarioResult } from './types';

export const AUDIO_TARGET = 100;
const DISTINCT_FILES = 4;

/**
 * SPEC §10 audio.analyze: 30 s 44.1 kHz stereo 16-bit WAV files (5.3 MB each) in the stack's
 * MEDIA_ROOT, submitted as `{path}` through POST /jobs/batch. A few distinct files are written and
 * hard-linked under distinct names, so every job has its own path (no result-cache hits) without
 * writing gigabytes. Files/s = completed ÷ (last finished_at − first request sent). Runs only when
 * GET /job-types lists `audio.analyze`.
 */
export async function audio(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { options, log } = ctx;
  const bench = await ctx.stack();
  const types = await bench.http.get<{ items?: { type: string }[] } | { type: string }[]>('/job-types');
  const list = Array.isArray(types.body) ? types.body : (types.body.items ?? []);
  if (!list.some((t) => t.type === 'audio.analyze')) {
    log('audio: GET /job-types does not list audio.analyze; not available');
    return {
      name: 'audio',
      rows: [
        {
          measure: 'audio.analyze, 30 s 44.1 kHz stereo WAV',
          value: 'not available',
          unit: 'files/s',
          target: `≥ ${AUDIO_TARGET}`,
          pass: null,
        },
      ],
      details: { available: false },
    };
  }

  const mediaRoot = join(ROOT, bench.stack.env['MEDIA_ROOT'] ?? 'data/media');
  const dir = join(mediaRoot, 'bench');
  await mkdir(dir, { recursive: true });
  log(`audio: writing ${DISTINCT_FILES} distinct 30 s WAV files, linked as ${options.audioFiles} paths`);
  for (let k = 0; k < DISTINCT_FILES; k++) {
    const wav = benchWav({
      seconds: 30,
      sampleRate: 44100,
      channels: 2,
      freqHz: 220 * (k + 1),
      bpm: 90 + 10 * k,
      seed: k + 1,
    });
    await writeFile(join(dir, `source-${k}.wav`), wav);
  }
  for (let i = 0; i < options.audioFiles; i++) {
    await link(join(dir, `source-${i % DISTINCT_FILES}.wav`), join(dir, `track-${i}.wav`));
  }
  await bench.waitForDrain(60000);

  const tag = `audio-${Date.now()}`;
  const cpuBefore = await cpuMark(bench);
  bench.startProfiling(options);
  const submitted = await submitBatches(
    bench.http,
    options.audioFiles,
    options.batchSize,
    options.submitters,
    (i) => ({
      type: 'audio.analyze',
      payload: { path: `bench/track-${i}.wav` },
      metadata: { bench: tag },
    }),
  );
  await bench.waitForDrain(Math.max(120000, options.audioFiles * 1000), 200);
  const cpuAfter = await cpuMark(bench);
  const { rows } = await bench.db.query<{ status: string; n: string; last: number; code: string | null }>(
    `SELECT status, error->>'code' AS code, count(*) AS n, extract(epoch FROM max(finished_at)) * 1000 AS last
     FROM jobs WHERE metadata->>'bench' = $1 GROUP BY status, error->>'code'`,
    [tag],
  );
  const completed = Number(rows.find((r) => r.status === 'completed')?.n ?? 0);
  const last = rows.reduce((max, r) => Math.max(max, Number(r.last)), 0);
  const rate = completed ? (completed * 1000) / (last - submitted.firstSendMs) : 0;
  const outcomes = Object.fromEntries(
    rows.map((r) => [`${r.status}${r.code ? `:${r.code}` : ''}`, Number(r.n)]),
  );
  log(`audio: ${round(rate)} files/s; outcomes ${JSON.stringify(outcomes)}`);
  return {
    name: 'audio',
    rows: [
      {
        measure: `audio.analyze, ${options.audioFiles} × 30 s 44.1 kHz stereo WAV`,
        value: round(rate),
        unit: 'files/s',
        target: `≥ ${AUDIO_TARGET}`,
        pass: completed === options.audioFiles && atLeast(rate, AUDIO_TARGET),
      },
    ],
    details: {
      available: true,
      files: options.audioFiles,
      distinctContents: DISTINCT_FILES,
      completed,
      outcomes,
      elapsedMs: Math.round(last - submitted.firstSendMs),
      filesPerSecond: round(rate),
      cpu: cpuReport(cpuBefore, cpuAfter, completed),
    },
  };
}
