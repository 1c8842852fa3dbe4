import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { isUuid } from '@switchyard/contracts';

/** Thrown when an upload goes past its size limit; nothing of it is kept. */
export class UploadTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`the upload is larger than ${maxBytes} bytes`);
  }
}

/** Input files uploaded through `POST /files`; jobs reference them by `fileId`. */
export interface UploadStore {
  /** Streams `data` into storage, hashing on the way; throws UploadTooLargeError past `maxBytes`. */
  save(fileId: string, data: Readable, maxBytes: number): Promise<{ size: number; sha256: string }>;
  open(fileId: string): Promise<Readable | null>;
  remove(fileId: string): Promise<void>;
}

/**
 * Uploads on a local or mounted filesystem, next to the artifacts: `<dir>/<fileId>`. Handlers on
 * the same filesystem (e.g. `audio.analyze` with `{fileId}`) read them through `pathOf`.
 */
export class FileUploadStore implements UploadStore {
  private readonly root: string;

  constructor(directory: string) {
    this.root = resolve(directory);
  }

  async save(fileId: string, data: Readable, maxBytes: number): Promise<{ size: number; sha256: string }> {
    const target = this.pathOf(fileId);
    await mkdir(this.root, { recursive: true });
    const temp = join(this.root, `.${fileId}.${randomUUID()}.part`);
    const hash = createHash('sha256');
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        if (size > maxBytes) return done(new UploadTooLargeError(maxBytes));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    // The source is piped by hand, not through pipeline(): a failure must not destroy it, so
    // that an HTTP request can still be drained and answered (413) on its connection.
    const written = pipeline(meter, createWriteStream(temp));
    const onSourceError = (error: Error) => meter.destroy(error);
    data.on('error', onSourceError);
    data.pipe(meter);
    try {
      await written;
      // Rename so a reader never sees half a file.
      await rename(temp, target);
    } catch (error) {
      data.unpipe(meter);
      await rm(temp, { force: true });
      throw error;
    } finally {
      data.off('error', onSourceError);
    }
    return { size, sha256: hash.digest('hex') };
  }

  async open(fileId: string): Promise<Readable | null> {
    const path = this.pathOf(fileId);
    try {
      await stat(path);
      return createReadStream(path);
    } catch {
      return null;
    }
  }

  async remove(fileId: string): Promise<void> {
    await rm(this.pathOf(fileId), { force: true });
  }

  /** Where the bytes of `fileId` are on disk. */
  pathOf(fileId: string): string {
    if (!isUuid(fileId)) throw new Error(`not a file id: ${fileId}`);
    // One file per upload whatever the letter case of the id (PostgreSQL's uuid ignores it).
    return join(this.root, fileId.toLowerCase());
  }
}
