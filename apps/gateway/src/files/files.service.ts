import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import type { MultipartFile } from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import { ApiError, isUuid, type FileView } from '@switchyard/contracts';
import { UploadTooLargeError, type UploadStore } from '@switchyard/storage';
import { FilesRepository, type FileRecord } from '@switchyard/persistence';
import { tenantScope, type Caller } from '../auth/caller';
import { GATEWAY_CONFIG, LOGGER, UPLOAD_STORE, type GatewayConfig, type Logger } from '../gateway.tokens';

/** Room for multipart boundaries and part headers around the file itself. */
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

const toView = (file: FileRecord): FileView => ({
  fileId: file.id,
  size: file.size,
  sha256: file.sha256,
  contentType: file.contentType,
  name: file.name,
  createdAt: file.createdAt.toISOString(),
});

/** Input file uploads (SPEC §4 `POST /files`): raw bodies or multipart, streamed to the store. */
@Injectable()
export class FilesService {
  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(UPLOAD_STORE) private readonly uploads: UploadStore,
    private readonly files: FilesRepository,
  ) {}

  async upload(caller: Caller, request: FastifyRequest): Promise<FileView> {
    const max = this.config.UPLOAD_MAX_BYTES;
    const contentType = request.headers['content-type'] ?? 'application/octet-stream';
    const declared = Number(request.headers['content-length']);
    const multipart = contentType.startsWith('multipart/form-data');
    // Refuse what says it is too large before reading any of it.
    if (Number.isFinite(declared) && declared > max + (multipart ? MULTIPART_OVERHEAD_BYTES : 0)) {
      throw tooLarge(max);
    }
    let source: { stream: Readable; contentType: string; name: string | null };
    if (multipart) {
      const part: MultipartFile | undefined = await request.file({ limits: { fileSize: max, files: 1 } });
      if (!part)
        throw new ApiError('validation_failed', 'the multipart body has no file part', [
          { field: 'file', message: 'required' },
        ]);
      source = {
        stream: part.file,
        contentType: part.mimetype || 'application/octet-stream',
        name: part.filename || null,
      };
    } else {
      if (contentType.startsWith('application/json')) {
        throw new ApiError(
          'unsupported_media_type',
          'upload the file as its own content type (e.g. application/octet-stream) or as multipart/form-data',
        );
      }
      const body = request.body as Readable | undefined;
      if (!body || typeof body.pipe !== 'function') {
        throw new ApiError('validation_failed', 'the upload is empty', [
          { field: 'body', message: 'must not be empty' },
        ]);
      }
      source = { stream: body, contentType, name: fileNameOf(request) };
    }
    const id = randomUUID();
    let saved: { size: number; sha256: string };
    try {
      saved = await this.uploads.save(id, source.stream, max);
    } catch (error) {
      if (error instanceof UploadTooLargeError || (error as { statusCode?: number }).statusCode === 413) {
        source.stream.resume(); // drain the rest so the client reads the 413 instead of a reset
        throw tooLarge(max);
      }
      throw error;
    }
    if (saved.size === 0) {
      await this.uploads.remove(id);
      throw new ApiError('validation_failed', 'the upload is empty', [
        { field: 'body', message: 'must not be empty' },
      ]);
    }
    const record = await this.files.insert({
      id,
      tenant: caller.tenant,
      name: source.name,
      contentType: source.contentType.slice(0, 200),
      size: saved.size,
      sha256: saved.sha256,
    });
    this.logger.info({ fileId: id, size: saved.size, contentType: record.contentType }, 'file uploaded');
    return toView(record);
  }

  async get(caller: Caller, id: string): Promise<FileView> {
    const file = isUuid(id) ? await this.files.findById(id, tenantScope(caller)) : null;
    if (!file) throw new ApiError('not_found', `file ${id} not found`);
    return toView(file);
  }
}

function tooLarge(max: number): ApiError {
  return new ApiError('payload_too_large', `uploads are at most ${max} bytes (UPLOAD_MAX_BYTES)`);
}

/** A raw upload may name itself with `Content-Disposition: attachment; filename="…"`. */
function fileNameOf(request: FastifyRequest): string | null {
  const disposition = request.headers['content-disposition'];
  const match = typeof disposition === 'string' ? /filename="?([^";]+)"?/i.exec(disposition) : null;
  return match?.[1]?.slice(0, 200) ?? null;
}
