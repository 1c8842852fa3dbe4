import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { isUuid } from '@switchyard/contracts';
import type { ArtifactRef, ArtifactWriter } from '@switchyard/handler-sdk';

/** Reads and writes job artifacts; another store (S3-compatible) implements the same interface. */
export interface ArtifactStore {
  writerFor(jobId: string): ArtifactWriter;
  open(jobId: string): Promise<{ ref: ArtifactRef; stream: Readable } | null>;
  /** The artifact's reference and a local path of its bytes (a flow job's input), or null. */
  locate(jobId: string): Promise<{ ref: ArtifactRef; path: string } | null>;
  remove(jobId: string): Promise<void>;
}

/** Artifacts on a local or mounted filesystem: `<dir>/<jobId>/<name>` plus `meta.json`. */
export class FileArtifactStore implements ArtifactStore {
  private readonly root: string;

  constructor(directory: string) {
    this.root = resolve(directory);
  }

  writerFor(jobId: string): ArtifactWriter {
    return { put: (name, contentType, data) => this.put(jobId, name, contentType, data) };
  }

  async open(jobId: string): Promise<{ ref: ArtifactRef; stream: Readable } | null> {
    const found = await this.locate(jobId);
    return found ? { ref: found.ref, stream: createReadStream(found.path) } : null;
  }

  async locate(jobId: string): Promise<{ ref: ArtifactRef; path: string } | null> {
    const dir = this.dirFor(jobId);
    try {
      const ref = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as ArtifactRef;
      const info = await stat(join(dir, 'data'));
      return info.isFile() ? { ref, path: join(dir, 'data') } : null;
    } catch {
      return null;
    }
  }

  async remove(jobId: string): Promise<void> {
    await rm(this.dirFor(jobId), { recursive: true, force: true });
  }

  private async put(
    jobId: string,
    name: string,
    contentType: string,
    data: Buffer | AsyncIterable<Buffer>,
  ): Promise<ArtifactRef> {
    const dir = this.dirFor(jobId);
    await mkdir(dir, { recursive: true });
    const chunks: Buffer[] = [];
    if (Buffer.isBuffer(data)) chunks.push(data);
    else for await (const chunk of data) chunks.push(chunk);
    const bytes = Buffer.concat(chunks);
    const ref: ArtifactRef = {
      jobId,
      name: name.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 200) || 'artifact',
      contentType,
      size: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    };
    // Write then rename so a reader never sees half an artifact (a retry may overwrite it).
    await writeFile(join(dir, 'data.tmp'), bytes);
    await rename(join(dir, 'data.tmp'), join(dir, 'data'));
    await writeFile(join(dir, 'meta.json'), JSON.stringify(ref));
    return ref;
  }

  private dirFor(jobId: string): string {
    if (!isUuid(jobId)) throw new Error(`not a job id: ${jobId}`);
    // One directory per job whatever the letter case of the id (PostgreSQL's uuid ignores it).
    return join(this.root, jobId.toLowerCase());
  }
}
