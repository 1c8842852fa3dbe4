import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { extname } from 'node:path';
import { PermanentError } from '@switchyard/handler-sdk';
import { resolveMediaPathSync } from '../inputs/media-path';
import { analyzePcm, type AudioFeatures } from './analysis';
import { suggestFilename, tagsFromCommon, type AudioTags, type CommonTagsLike } from './tags';
import { AudioFormatError, decodeWav, type Pcm } from './wav';

// The part of audio.analyze that runs on a pool thread: read, parse, decode, measure. It returns
// plain data (errors included) because only structured-cloneable values cross the thread
// boundary; error classes and their codes would not survive the trip.

/** `format` of the audio.analyze result (SPEC §7); null where the file does not say. */
export interface AudioFormatInfo {
  container: string | null;
  codec: string | null;
  sampleRate: number | null;
  channels: number | null;
  bitsPerSample: number | null;
  durationSec: number | null;
  /** Bits per second. */
  bitrate: number | null;
}

/** The audio.analyze result (SPEC §7). */
export interface AudioAnalysis {
  format: AudioFormatInfo;
  tags: AudioTags;
  features: AudioFeatures | null;
  /** Why `features` is null (a compressed format without a decoder, an undecodable WAV). */
  featuresUnavailableReason?: string;
  suggestedFilename: string;
}

export type AnalyzeOutcome =
  | { ok: true; analysis: AudioAnalysis }
  | {
      ok: false;
      code: 'unsupported_format' | 'file_too_large' | 'file_not_found' | 'invalid_payload';
      message: string;
    };

export interface AnalyzeTask {
  /**
   * Absolute and already confined (an upload), or, with `mediaRoot`, the client's relative path,
   * which the thread confines to MEDIA_ROOT (`resolveMediaPathSync`) so the worker's main thread
   * does no filesystem calls for it.
   */
  path: string;
  /** MEDIA_ROOT, when `path` is relative to it. */
  mediaRoot?: string;
  /** Base of `suggestedFilename` when the file has no title tag. */
  fallbackName: string;
}

/** What the task needs of music-metadata (typed here so this module does not load it). */
export interface ParsedMetadata {
  format: {
    container?: string;
    codec?: string;
    sampleRate?: number;
    numberOfChannels?: number;
    bitsPerSample?: number;
    duration?: number;
    bitrate?: number;
  };
  common: CommonTagsLike;
}
export type MetadataParser = (bytes: Uint8Array, path: string) => Promise<ParsedMetadata>;

/**
 * Decodes a compressed file (MP3, FLAC, Ogg Vorbis) to PCM; returns undefined for a format it has
 * no decoder for. The thread script supplies the WASM decoders (ESM-only packages).
 */
export type CompressedDecoder = (bytes: Uint8Array, format: AudioFormatInfo) => Promise<Pcm> | undefined;

/** Files are read whole (WAV decoding needs every sample); past this the job fails permanently. */
export const MAX_ANALYZE_BYTES = 1024 * 1024 * 1024;
/**
 * Compressed audio decodes to 32-bit floats, twice (planar, then interleaved): past this many
 * samples (about 25 minutes of 44.1 kHz stereo, 1 GiB of PCM) features are skipped.
 */
export const MAX_DECODED_SAMPLES = 2 ** 27;

const EXTENSION_BY_CONTAINER: Record<string, string> = {
  wave: 'wav',
  flac: 'flac',
  ogg: 'ogg',
  aiff: 'aiff',
  'aiff-c': 'aifc',
  'mpeg-4': 'm4a',
  m4a: 'm4a',
  webm: 'webm',
  matroska: 'mka',
  asf: 'wma',
};

function extensionFor(container: string | null, codec: string | null, path: string): string {
  const key = (container ?? '').toLowerCase();
  if (key === 'mpeg') return /layer 2/i.test(codec ?? '') ? 'mp2' : 'mp3';
  return EXTENSION_BY_CONTAINER[key] ?? extname(path).slice(1);
}

const finite = (value: number | undefined): number | null =>
  value !== undefined && Number.isFinite(value) ? value : null;

export async function analyzeAudioFile(
  task: AnalyzeTask,
  parse: MetadataParser,
  decodeCompressed: CompressedDecoder = () => undefined,
): Promise<AnalyzeOutcome> {
  let path = task.path;
  if (task.mediaRoot !== undefined) {
    try {
      path = resolveMediaPathSync(task.mediaRoot, task.path);
    } catch (error) {
      if (!(error instanceof PermanentError)) throw error;
      return { ok: false, code: error.code as 'invalid_payload' | 'file_not_found', message: error.message };
    }
  }
  const read = readWhole(path);
  if (!read.ok) return read;
  try {
    return await analyzeBytes(read.bytes, path, task.fallbackName, parse, decodeCompressed);
  } finally {
    read.release();
  }
}

/**
 * One read buffer per thread, reused while it is free: a fresh 5 MB buffer per file cost page
 * faults and external-memory GCs. A call that finds it busy (concurrent analyses on one thread)
 * or too small for a big file reads into a buffer of its own.
 */
let shared: Buffer | undefined;
let sharedBusy = false;
/** Files up to this size go through the reused buffer; it is never grown past it. */
const SHARED_BUFFER_MAX = 64 * 1024 * 1024;

type ReadOutcome = { ok: true; bytes: Buffer; release: () => void } | Extract<AnalyzeOutcome, { ok: false }>;

/**
 * The whole file, read synchronously: this runs on a pool thread, where a blocking read is
 * cheaper than readFile's chunked reads through libuv's thread pool.
 */
function readWhole(path: string): ReadOutcome {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return { ok: false, code: 'file_not_found', message: 'the input file is gone' };
  }
  try {
    const info = fstatSync(fd);
    if (!info.isFile()) return { ok: false, code: 'file_not_found', message: 'the input file is gone' };
    if (info.size > MAX_ANALYZE_BYTES) {
      return {
        ok: false,
        code: 'file_too_large',
        message: `the file has ${info.size} bytes; at most ${MAX_ANALYZE_BYTES} can be analysed`,
      };
    }
    const size = info.size;
    let buffer: Buffer;
    let release = (): void => undefined;
    if (!sharedBusy && size <= SHARED_BUFFER_MAX) {
      // Grown in 1 MiB steps so files of similar sizes share one allocation. Not zeroed: only the
      // bytes read are exposed.
      if (!shared || shared.length < size)
        shared = Buffer.allocUnsafeSlow(Math.ceil((size + 1) / 2 ** 20) * 2 ** 20);
      buffer = shared;
      sharedBusy = true;
      release = () => {
        sharedBusy = false;
      };
    } else {
      buffer = Buffer.allocUnsafeSlow(size);
    }
    // A file that grows while it is read is cut at the size fstat saw; one that shrinks ends early.
    let length = 0;
    while (length < size) {
      const n = readSync(fd, buffer, length, size - length, length);
      if (n === 0) break;
      length += n;
    }
    return { ok: true, bytes: buffer.subarray(0, length), release };
  } finally {
    closeSync(fd);
  }
}

async function analyzeBytes(
  bytes: Buffer,
  path: string,
  fallbackName: string,
  parse: MetadataParser,
  decodeCompressed: CompressedDecoder,
): Promise<AnalyzeOutcome> {
  let metadata: ParsedMetadata;
  try {
    metadata = await parse(bytes, path);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, code: 'unsupported_format', message: `not a readable audio file: ${reason}` };
  }
  const { format: mm, common } = metadata;
  const format: AudioFormatInfo = {
    container: mm.container ?? null,
    codec: mm.codec ?? null,
    sampleRate: finite(mm.sampleRate),
    channels: finite(mm.numberOfChannels),
    bitsPerSample: finite(mm.bitsPerSample),
    durationSec: finite(mm.duration),
    bitrate: finite(mm.bitrate),
  };
  const decoded = await decodeFeatures(bytes, format, decodeCompressed);
  const tags = tagsFromCommon(common);
  return {
    ok: true,
    analysis: {
      format: decoded.format,
      tags,
      features: decoded.features,
      ...(decoded.reason === undefined ? {} : { featuresUnavailableReason: decoded.reason }),
      suggestedFilename: suggestFilename(
        tags,
        fallbackName,
        extensionFor(format.container, format.codec, path),
      ),
    },
  };
}

/**
 * Features from decoded PCM. WAV is decoded here; the exact values from the decoder (the samples
 * the features were measured on) replace music-metadata's. Compressed formats go through
 * `decodeCompressed`; their format stays music-metadata's (it knows the encoder delay and padding
 * that decoders include). Without a decoder, or when decoding fails, features are null with the
 * reason.
 */
async function decodeFeatures(
  bytes: Buffer,
  format: AudioFormatInfo,
  decodeCompressed: CompressedDecoder,
): Promise<{ format: AudioFormatInfo; features: AudioFeatures | null; reason?: string }> {
  const name = `${format.container ?? 'this container'}${format.codec ? ` (${format.codec})` : ''}`;
  if ((format.container ?? '').toUpperCase() === 'WAVE') {
    try {
      const wav = decodeWav(bytes);
      return {
        format: {
          ...format,
          sampleRate: wav.sampleRate,
          channels: wav.channels,
          bitsPerSample: wav.bitsPerSample,
          durationSec: wav.durationSec,
          bitrate: format.bitrate ?? wav.sampleRate * wav.channels * wav.bitsPerSample,
        },
        features: analyzePcm(wav),
      };
    } catch (error) {
      if (!(error instanceof AudioFormatError)) throw error;
      return { format, features: null, reason: `the WAV data could not be decoded: ${error.message}` };
    }
  }
  const samples = (format.durationSec ?? 0) * (format.sampleRate ?? 0) * (format.channels ?? 0);
  if (samples > MAX_DECODED_SAMPLES) {
    return { format, features: null, reason: `${name} is too long to decode for features` };
  }
  const pending = decodeCompressed(bytes, format);
  if (!pending) return { format, features: null, reason: `no decoder for ${name}` };
  try {
    return { format, features: analyzePcm(await pending) };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { format, features: null, reason: `${name} could not be decoded: ${reason}` };
  }
}
