import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { FileArtifactStore } from './file-artifact.store';

async function read(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('FileArtifactStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'artifacts-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('stores bytes from a buffer or a stream and opens them with their reference', async () => {
    const store = new FileArtifactStore(dir);
    const jobId = randomUUID();
    const parts = Readable.from([Buffer.from('hello, '), Buffer.from('world')]);
    const ref = await store.writerFor(jobId).put('a/b c.txt', 'text/plain', parts);
    expect(ref).toEqual({
      jobId,
      name: 'a_b_c.txt',
      contentType: 'text/plain',
      size: 12,
      sha256: createHash('sha256').update('hello, world').digest('hex'),
    });
    const opened = await store.open(jobId);
    expect(opened?.ref).toEqual(ref);
    expect((await read(opened!.stream)).toString()).toBe('hello, world');

    // A retry overwrites the previous attempt's artifact.
    await store.writerFor(jobId).put('again', 'application/octet-stream', Buffer.from('x'));
    expect((await store.open(jobId))?.ref.size).toBe(1);
  });

  it('finds a job whatever the letter case of its id, and forgets it once removed', async () => {
    const store = new FileArtifactStore(dir);
    const jobId = randomUUID();
    await store.writerFor(jobId).put('r', 'text/plain', Buffer.from('r'));
    expect((await store.open(jobId.toUpperCase()))?.ref.jobId).toBe(jobId);
    await store.remove(jobId.toUpperCase());
    expect(await store.open(jobId)).toBeNull();
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses ids that are not ids', async () => {
    const store = new FileArtifactStore(dir);
    await expect(store.remove('../../etc')).rejects.toThrow('not a job id');
    await expect(store.writerFor('-'.repeat(36)).put('x', 'text/plain', Buffer.from('x'))).rejects.toThrow(
      'not a job id',
    );
  });
});
