// The pool thread's entry point (WORKER_CPU_THREADS threads load it): every export is a task the
// main thread runs by name through AudioEngine. Only the pure audio modules and music-metadata
// are loaded here, so a thread starts quickly and never touches the worker's connections.
import type { MessagePort } from 'node:worker_threads';
import { move } from 'piscina';
import {
  analyzeAudioFile,
  type AnalyzeOutcome,
  type AnalyzeTask,
  type AudioFormatInfo,
  type CompressedDecoder,
  type MetadataParser,
} from './analyze-task';
import { renderGeneration, type GenerateTask } from './generate-task';
import { interleave, type Pcm } from './wav';

let parser: Promise<MetadataParser> | undefined;

/** music-metadata is ESM-only; loaded once per thread on the first analysis. */
function metadataParser(): Promise<MetadataParser> {
  parser ??= import('music-metadata').then(
    (mm): MetadataParser =>
      (bytes, path) =>
        // `duration: true` makes formats without a length header (VBR MP3) scan for it: we have
        // the whole file in memory anyway.
        mm.parseBuffer(bytes, { path, size: bytes.length }, { skipCovers: true, duration: true }),
  );
  return parser;
}

// Load it while the thread starts rather than on the first job (it takes a few hundred ms).
metadataParser().catch(() => {
  // The analysis that needs it reports the failure.
  parser = undefined;
});

/** What the wasm-audio-decoders packages return. */
interface DecodedAudio {
  channelData: Float32Array[];
  samplesDecoded: number;
  sampleRate: number;
  errors: unknown[];
}

interface WasmDecoder {
  ready: Promise<void>;
  free(): void;
}

/**
 * One decoder per file, freed afterwards so a thread does not keep a long file's WASM memory.
 * Corrupt frames are skipped by the decoders (and counted in `errors`); a file where nothing
 * decodes is reported as undecodable.
 */
async function decodeWith<D extends WasmDecoder>(
  create: () => D,
  run: (decoder: D) => DecodedAudio | Promise<DecodedAudio>,
): Promise<Pcm> {
  const decoder = create();
  try {
    await decoder.ready;
    const audio = await run(decoder);
    if (audio.samplesDecoded === 0 || audio.channelData.length === 0) {
      throw new Error(`no audio decoded (${audio.errors.length} errors)`);
    }
    return {
      sampleRate: audio.sampleRate,
      channels: audio.channelData.length,
      samples: interleave(audio.channelData.map((c) => c.subarray(0, audio.samplesDecoded))),
    };
  } finally {
    decoder.free();
  }
}

/** MP3 (and MPEG layers I/II), FLAC and Ogg Vorbis through the wasm-audio-decoders packages. */
const decodeCompressed: CompressedDecoder = (bytes: Uint8Array, format: AudioFormatInfo) => {
  const container = (format.container ?? '').toUpperCase();
  const codec = (format.codec ?? '').toUpperCase();
  if (container === 'MPEG' && codec.startsWith('MPEG')) {
    return import('mpg123-decoder').then(({ MPEGDecoder }) =>
      decodeWith(
        () => new MPEGDecoder(),
        (d) => d.decode(bytes),
      ),
    );
  }
  if (container === 'FLAC') {
    return import('@wasm-audio-decoders/flac').then(({ FLACDecoder }) =>
      decodeWith(
        () => new FLACDecoder(),
        (d) => d.decodeFile(bytes),
      ),
    );
  }
  if (container === 'OGG' && codec.startsWith('VORBIS')) {
    return import('@wasm-audio-decoders/ogg-vorbis').then(({ OggVorbisDecoder }) =>
      decodeWith(
        () => new OggVorbisDecoder(),
        (d) => d.decodeFile(bytes),
      ),
    );
  }
  return undefined;
};

export async function analyze(task: AnalyzeTask): Promise<AnalyzeOutcome> {
  return analyzeAudioFile(task, await metadataParser(), decodeCompressed);
}

export interface GenerateTaskMessage extends GenerateTask {
  /** Receives `{ framesDone, totalFrames }` after every chunk. */
  port: MessagePort;
}

/** Returns the WAV bytes, transferred (not copied) back to the main thread. */
export function generate(task: GenerateTaskMessage): unknown {
  const { port, ...options } = task;
  try {
    const result = renderGeneration(options, (framesDone, totalFrames) => {
      port.postMessage({ framesDone, totalFrames });
      return true;
    });
    if (!result) throw new Error('generation stopped');
    return move(result.wav);
  } finally {
    port.close();
  }
}
