import { realpathSync, statSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep, win32 } from 'node:path';
import { PermanentError } from '@switchyard/handler-sdk';

/**
 * Resolves a client-supplied path inside `root` (MEDIA_ROOT) or throws a PermanentError:
 * `invalid_payload` for absolute paths, `..` segments and anything that leaves the root through a
 * symlink; `file_not_found` when nothing readable is there. The check runs on the real path, so a
 * link inside the root that points outside is refused too.
 */
export async function resolveMediaPath(root: string, requested: string): Promise<string> {
  checkMediaPath(requested);
  const rootReal = await realRoot(root);
  const fileReal = await realpath(resolve(rootReal, requested)).catch(() => {
    throw noFile(requested);
  });
  checkInside(rootReal, fileReal);
  checkRegularFile(await stat(fileReal), requested);
  return fileReal;
}

/**
 * The checks of `resolveMediaPath` that need no filesystem access (empty, absolute, `..`): cheap
 * enough for the caller's thread, before the rest runs where the file is read.
 */
export function checkMediaPath(requested: string): void {
  if (!requested || requested.includes('\0')) {
    throw new PermanentError('the path is empty or contains a NUL byte', 'invalid_payload');
  }
  // Windows forms too ("C:\x", "\\server\x"): a worker on any OS must refuse them.
  if (isAbsolute(requested) || win32.isAbsolute(requested)) {
    throw new PermanentError('the path must be relative to MEDIA_ROOT', 'invalid_payload');
  }
  if (requested.split(/[\\/]/).includes('..')) {
    throw new PermanentError('the path must not contain ".." segments', 'invalid_payload');
  }
}

/**
 * `resolveMediaPath` with synchronous filesystem calls, for a pool thread that reads the file
 * next anyway: no thread-pool round trips, and no work on the worker's main thread.
 */
export function resolveMediaPathSync(root: string, requested: string): string {
  checkMediaPath(requested);
  let rootReal = realRoots.get(root);
  if (rootReal === undefined) {
    try {
      rootReal = realpathSync.native(resolve(root));
    } catch {
      throw noRoot();
    }
    realRoots.set(root, rootReal);
  }
  let fileReal: string;
  try {
    fileReal = realpathSync.native(resolve(rootReal, requested));
  } catch {
    throw noFile(requested);
  }
  checkInside(rootReal, fileReal);
  const info = statSync(fileReal, { throwIfNoEntry: false });
  if (!info) throw noFile(requested);
  checkRegularFile(info, requested);
  return fileReal;
}

/** MEDIA_ROOT's real path, resolved once per root (only successes are kept: it may appear later). */
const realRoots = new Map<string, string>();

async function realRoot(root: string): Promise<string> {
  const known = realRoots.get(root);
  if (known !== undefined) return known;
  const real = await realpath(resolve(root)).catch(() => {
    throw noRoot();
  });
  realRoots.set(root, real);
  return real;
}

function noRoot(): PermanentError {
  return new PermanentError('MEDIA_ROOT does not exist on this worker', 'file_not_found');
}

function noFile(requested: string): PermanentError {
  return new PermanentError(`no file at "${requested}" under MEDIA_ROOT`, 'file_not_found');
}

/** Refuses a real path that left the root (through a symlink). */
function checkInside(rootReal: string, fileReal: string): void {
  if (!isInside(rootReal, fileReal)) {
    throw new PermanentError('the path leads outside MEDIA_ROOT', 'invalid_payload');
  }
}

function checkRegularFile(info: { isFile(): boolean }, requested: string): void {
  if (!info.isFile()) throw new PermanentError(`"${requested}" is not a regular file`, 'invalid_payload');
}

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}
