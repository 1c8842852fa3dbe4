import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { FileUploadStore, UploadTooLargeError } from './upload.store';

describe('FileUploadStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'uploads-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('stores the bytes and reports their size and SHA-256', async () => {
    const store = new FileUploadStore(dir);
    const id = randomUUID();
    const bytes = Buffer.alloc(300000, 7);
    const saved = await store.save(
      id,
      Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]),
      300000,
    );
    expect(saved).toEqual({ size: 300000, sha256: createHash('sha256').update(bytes).digest('hex') });
    expect(await readFile(store.pathOf(id))).toEqual(bytes);
    expect(await store.open(randomUUID())).toBeNull();
  });

  it('refuses past the limit and keeps nothing', async () => {
    const store = new FileUploadStore(dir);
    await expect(
      store.save(randomUUID(), Readable.from([Buffer.alloc(10), Buffer.alloc(10)]), 15),
    ).rejects.toThrow(UploadTooLargeError);
    expect(await readdir(dir)).toEqual([]);
  });

  it('keeps one file per id whatever its letter case', async () => {
    const store = new FileUploadStore(dir);
    const id = randomUUID();
    await store.save(id.toUpperCase(), Readable.from([Buffer.from('x')]), 10);
    expect(await readdir(dir)).toEqual([id]);
    expect(store.pathOf(id.toUpperCase())).toBe(store.pathOf(id));
    await store.remove(id.toUpperCase());
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses ids that are not ids', () => {
    expect(() => new FileUploadStore(dir).pathOf('../etc/passwd')).toThrow('not a file id');
    expect(() => new FileUploadStore(dir).pathOf('-'.repeat(36))).toThrow('not a file id');
  });
});
