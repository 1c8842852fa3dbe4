import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PermanentError } from '@switchyard/handler-sdk';
import { resolveMediaPath, resolveMediaPathSync } from './media-path';

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof PermanentError)) throw new Error(`expected a PermanentError, got ${String(error)}`);
  return error.code;
}

describe('resolveMediaPath', () => {
  let base: string;
  let root: string;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'media-'));
    root = join(base, 'media');
    await mkdir(join(root, 'album'), { recursive: true });
    await writeFile(join(root, 'album', 'a.wav'), 'x');
    await writeFile(join(base, 'secret.wav'), 'x');
    await symlink(join(base, 'secret.wav'), join(root, 'escape.wav'));
    await symlink(base, join(root, 'up'));
    await symlink(join(root, 'album', 'a.wav'), join(root, 'inside.wav'));
  });
  afterAll(() => rm(base, { recursive: true, force: true }));

  it('resolves relative paths inside the root, also through links that stay inside', async () => {
    expect(await resolveMediaPath(root, 'album/a.wav')).toBe(join(root, 'album', 'a.wav'));
    expect(await resolveMediaPath(root, './album//a.wav')).toBe(join(root, 'album', 'a.wav'));
    expect(await resolveMediaPath(root, 'inside.wav')).toBe(join(root, 'album', 'a.wav'));
  });

  it.each([
    ['../secret.wav'],
    ['album/../../secret.wav'],
    ['album\\..\\..\\secret.wav'],
    ['/etc/passwd'],
    ['C:\\Windows\\win.ini'],
    ['\\\\server\\share\\a.wav'],
    ['escape.wav'],
    ['up/secret.wav'],
    ['album'],
    ['a\0b'],
    [''],
  ])('refuses %j with invalid_payload', async (path) => {
    expect(await codeOf(resolveMediaPath(root, path))).toBe('invalid_payload');
  });

  it('reports a missing file as file_not_found', async () => {
    expect(await codeOf(resolveMediaPath(root, 'album/none.wav'))).toBe('file_not_found');
    expect(await codeOf(resolveMediaPath(join(base, 'no-root'), 'a.wav'))).toBe('file_not_found');
  });

  it('gives the same answers synchronously (resolveMediaPathSync, for pool threads)', async () => {
    const sync = (path: string, at = root) => Promise.resolve().then(() => resolveMediaPathSync(at, path));
    expect(await sync('./album//a.wav')).toBe(join(root, 'album', 'a.wav'));
    expect(await sync('inside.wav')).toBe(join(root, 'album', 'a.wav'));
    for (const path of ['../secret.wav', 'escape.wav', 'up/secret.wav', 'album', '/etc/passwd', '']) {
      expect(await codeOf(sync(path))).toBe('invalid_payload');
    }
    expect(await codeOf(sync('album/none.wav'))).toBe('file_not_found');
    expect(await codeOf(sync('a.wav', join(base, 'no-root')))).toBe('file_not_found');
  });
});
