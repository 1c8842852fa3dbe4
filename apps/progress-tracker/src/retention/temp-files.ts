import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** A temporary file: an upload being streamed (`.<id>.<uuid>.part`) or an artifact being written (`data.tmp`). */
const TEMPORARY = /\.(part|tmp)$/;

/**
 * Removes temporary files last modified more than `maxAgeMs` ago under `root` and one level of
 * folders below it (`<UPLOADS_DIR>/.x.part`, `<ARTIFACTS_DIR>/<jobId>/data.tmp`): what a process
 * that died while writing left behind. A missing root is not an error. Returns how many went.
 */
export async function sweepTemporaryFiles(root: string, maxAgeMs: number, now = Date.now()): Promise<number> {
  let removed = 0;
  const visit = async (dir: string, depth: number): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (depth > 0) await visit(path, depth - 1);
      } else if (entry.isFile() && TEMPORARY.test(entry.name)) {
        try {
          const { mtimeMs } = await stat(path);
          if (now - mtimeMs <= maxAgeMs) continue;
          await rm(path, { force: true });
          removed++;
        } catch (error) {
          // Renamed into place or removed by its writer meanwhile.
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        }
      }
    }
  };
  await visit(root, 1);
  return removed;
}
