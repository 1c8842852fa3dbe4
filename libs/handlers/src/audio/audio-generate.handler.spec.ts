import pino from 'pino';
import type { ArtifactRef, JobContext } from '@switchyard/handler-sdk';
import type { AudioEngine } from './audio-engine';
import { createAudioGenerateHandler, type AudioGeneratePayload } from './audio-generate.handler';
import { renderGeneration } from './generate-task';
import { renderSynthWav } from './synth';

/** The pool's work on the calling thread: the same task function, without threads. */
const inline: AudioEngine = {
  analyze: () => Promise.reject(new Error('not used here')),
  generate(task, signal, onProgress) {
    const out = renderGeneration(task, (done, total) => {
      onProgress(done, total);
      return !signal.aborted;
    });
    return out ? Promise.resolve(Buffer.from(out.wav)) : Promise.reject(new Error('cancelled'));
  },
};

function context(payload: AudioGeneratePayload, signal = new AbortController().signal) {
  const reports: { percent: number; step?: string }[] = [];
  const saved: { name: string; contentType: string; data: Buffer }[] = [];
  const ctx: JobContext<AudioGeneratePayload> = {
    jobId: '00000000-0000-0000-0000-000000000001',
    tenant: 't',
    attempt: 1,
    maxAttempts: 3,
    payload,
    signal,
    progress: (percent, step) => reports.push({ percent, step }),
    logger: pino({ level: 'silent' }),
    log: { info: () => undefined, warn: () => undefined, error: () => undefined },
    usage: () => undefined,
    artifacts: {
      put(name, contentType, data) {
        const bytes = data as Buffer;
        saved.push({ name, contentType, data: bytes });
        const ref: ArtifactRef = { jobId: ctx.jobId, name, contentType, size: bytes.length, sha256: 'h' };
        return Promise.resolve(ref);
      },
    },
    dependencies: {},
    dependencyFile: () => Promise.reject(new Error('no dependencies')),
    spawn: () => Promise.reject(new Error('no spawn')),
  };
  return { ctx, reports, saved };
}

describe('audio.generate', () => {
  const handler = createAudioGenerateHandler({ audio: inline });

  it('saves the synthesiser’s WAV through the four steps with rising progress', async () => {
    const { ctx, reports, saved } = context({ prompt: 'Rain on a tin roof', durationSec: 2, seed: 9 });
    const output = await handler.handle(ctx);
    expect(saved).toHaveLength(1);
    expect(saved[0]).toMatchObject({ name: 'Rain on a tin roof.wav', contentType: 'audio/wav' });
    expect(
      saved[0].data.equals(renderSynthWav({ prompt: 'Rain on a tin roof', durationSec: 2, seed: 9 })),
    ).toBe(true);
    expect(output.result).toMatchObject({
      seed: 9,
      bytes: saved[0].data.length,
      format: { container: 'WAVE', sampleRate: 44100, channels: 2, bitsPerSample: 16, durationSec: 2 },
    });
    expect([...new Set(reports.map((r) => r.step))]).toEqual([
      'loading_model',
      'encoding_prompt',
      'generating',
      'saving',
    ]);
    const percents = reports.map((r) => r.percent);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(percents.at(-1)).toBe(100);
  });

  it('saves nothing when cancelled during generation', async () => {
    const abort = new AbortController();
    const { ctx, saved, reports } = context({ prompt: 'x', durationSec: 5 }, abort.signal);
    const progress = ctx.progress;
    ctx.progress = (percent, step, message) => {
      progress(percent, step, message);
      if (step === 'generating' && percent > 20) abort.abort(new Error('cancelled'));
    };
    await expect(handler.handle(ctx)).rejects.toThrow('cancelled');
    expect(saved).toHaveLength(0);
    expect(reports.some((r) => r.step === 'saving')).toBe(false);
  });
});
