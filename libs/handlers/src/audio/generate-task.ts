import { createSynth, type SynthPlan } from './synth';
import { int16ToBytes } from './wav';

/** The audio.generate work that runs on a pool thread. */
export interface GenerateTask {
  prompt: string;
  durationSec: number;
  seed: number;
  sampleRate: number;
  channels: 1 | 2;
  /** Frames per chunk; progress is reported (and cancellation can land) between chunks. */
  chunkFrames: number;
}

export interface GeneratedWav {
  wav: Uint8Array;
  plan: SynthPlan;
  frames: number;
}

/**
 * Renders the whole WAV file chunk by chunk into one preallocated buffer. `afterChunk` runs
 * between chunks with the frames done so far; when it returns false the rendering stops and the
 * function returns null (the caller was cancelled).
 */
export function renderGeneration(
  task: GenerateTask,
  afterChunk: (framesDone: number, totalFrames: number) => boolean,
): GeneratedWav | null {
  const synth = createSynth(task);
  const out = new Uint8Array(synth.byteLength);
  out.set(synth.header(), 0);
  let offset = synth.header().length;
  for (const chunk of synth.chunks(task.chunkFrames)) {
    const bytes = int16ToBytes(chunk);
    out.set(bytes, offset);
    offset += bytes.length;
    if (!afterChunk(synth.framesRendered, synth.totalFrames)) return null;
  }
  return { wav: out, plan: synth.plan, frames: synth.totalFrames };
}
