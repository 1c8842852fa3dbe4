import { join } from 'node:path';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { PermanentError } from '@switchyard/handler-sdk';
import type { AnalyzeOutcome, AnalyzeTask, AudioAnalysis } from './analyze-task';
import type { GenerateTask } from './generate-task';

/**
 * CPU-heavy audio work, off the caller's thread. The worker runs it on a pool of worker threads
 * (PooledAudioEngine) so decoding and synthesis never stall its event loop, where heartbeats,
 * lease renewals and the other jobs run.
 */
export interface AudioEngine {
  /** Throws PermanentError for files that cannot be analysed; rejects when `signal` fires. */
  analyze(task: AnalyzeTask, signal: AbortSignal): Promise<AudioAnalysis>;
  /** The complete WAV file; `onProgress` runs on the caller's thread after every chunk. */
  generate(
    task: GenerateTask,
    signal: AbortSignal,
    onProgress: (framesDone: number, totalFrames: number) => void,
  ): Promise<Buffer>;
}

/**
 * The slice of a thread pool the engine uses; piscina's `Piscina` fits it. Aborting `signal`
 * must free the thread even when the task is mid-way (piscina terminates and replaces it).
 */
export interface TaskPool {
  run(
    task: unknown,
    options: { name: string; signal?: AbortSignal; transferList?: MessagePort[] },
  ): Promise<unknown>;
}

/** The compiled pool script next to this file (dist/…/audio.worker.js in a build). */
export const AUDIO_WORKER_FILE = join(__dirname, 'audio.worker.js');

export class PooledAudioEngine implements AudioEngine {
  constructor(private readonly pool: TaskPool) {}

  async analyze(task: AnalyzeTask, signal: AbortSignal): Promise<AudioAnalysis> {
    const outcome = (await this.pool.run(task, { name: 'analyze', signal })) as AnalyzeOutcome;
    if (!outcome.ok) throw new PermanentError(outcome.message, outcome.code);
    return outcome.analysis;
  }

  async generate(
    task: GenerateTask,
    signal: AbortSignal,
    onProgress: (framesDone: number, totalFrames: number) => void,
  ): Promise<Buffer> {
    const { port1, port2 } = new MessageChannel();
    let finished = false;
    port1.on('message', (message: { framesDone: number; totalFrames: number }) => {
      // Progress may still be in flight when the task settles; late reports are dropped.
      if (!finished) onProgress(message.framesDone, message.totalFrames);
    });
    try {
      const wav = (await this.pool.run(
        { ...task, port: port2 },
        { name: 'generate', signal, transferList: [port2] },
      )) as Uint8Array;
      return Buffer.from(wav.buffer, wav.byteOffset, wav.byteLength);
    } finally {
      finished = true;
      port1.close();
    }
  }
}
