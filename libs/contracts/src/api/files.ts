import { Type, type Static } from '@sinclair/typebox';
import { isoTime, nullable } from './schema';

/** `POST /files` and `GET /files/{id}`. */
export const FileViewSchema = Type.Object(
  {
    fileId: Type.String({ format: 'uuid', description: 'reference it from a job payload as `fileId`' }),
    size: Type.Integer({ minimum: 0 }),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    contentType: Type.String(),
    name: nullable(Type.String()),
    createdAt: isoTime(),
  },
  { title: 'File' },
);
export type FileView = Static<typeof FileViewSchema>;
