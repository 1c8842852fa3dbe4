import { stat } from 'node:fs/promises';
import { isUuid } from '@switchyard/contracts';
import { PermanentError } from '@switchyard/handler-sdk';
import { FileUploadStore } from '@switchyard/storage';

/**
 * Where the bytes of an uploaded file (`POST /files` → `fileId`) are, for handlers that read
 * inputs by id. Implementations check that the file belongs to `tenant`.
 */
export interface InputFiles {
  pathFor(fileId: string, tenant: string): Promise<string>;
}

/**
 * Uploads on a local or shared filesystem, where the gateway's FileUploadStore writes them (its
 * `pathOf` is the one description of the layout). `belongsTo` (the `files` table) keeps one
 * tenant from naming another's file; a file that is not the caller's reads as missing, so
 * existence does not leak.
 */
export class FileSystemInputFiles implements InputFiles {
  private readonly uploads: FileUploadStore;

  constructor(
    directory: string,
    private readonly belongsTo?: (fileId: string, tenant: string) => Promise<boolean>,
  ) {
    this.uploads = new FileUploadStore(directory);
  }

  async pathFor(fileId: string, tenant: string): Promise<string> {
    if (!isUuid(fileId)) throw new PermanentError('fileId is not a file id', 'invalid_payload');
    const id = fileId.toLowerCase();
    const missing = () => new PermanentError(`no uploaded file ${id}`, 'file_not_found');
    if (this.belongsTo && !(await this.belongsTo(id, tenant))) throw missing();
    const path = this.uploads.pathOf(id);
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) throw missing();
    return path;
  }
}
