import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PermanentError } from '../handler';

/**
 * Where the bytes of an uploaded file (`POST /files` → `fileId`) are, for handlers that read
 * inputs by id. Implementations check that the file belongs to `tenant`.
 */
export interface InputFiles {
  pathFor(fileId: string, tenant: string): Promise<string>;
}

const FILE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Uploads on a local or shared filesystem: `<directory>/<fileId>`, as the gateway's upload store
 * writes them. `belongsTo` (the `files` table) keeps one tenant from naming another's file; a
 * file that is not the caller's reads as missing, so existence does not leak.
 */
export class FileSystemInputFiles implements InputFiles {
  private readonly root: string;

  constructor(
    directory: string,
    private readonly belongsTo?: (fileId: string, tenant: string) => Promise<boolean>,
  ) {
    this.root = resolve(directory);
  }

  async pathFor(fileId: string, tenant: string): Promise<string> {
    if (!FILE_ID.test(fileId)) throw new PermanentError('fileId is not a file id', 'invalid_payload');
    const id = fileId.toLowerCase();
    const missing = () => new PermanentError(`no uploaded file ${id}`, 'file_not_found');
    if (this.belongsTo && !(await this.belongsTo(id, tenant))) throw missing();
    const path = join(this.root, id);
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) throw missing();
    return path;
  }
}
