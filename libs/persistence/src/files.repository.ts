import type { DataSource } from 'typeorm';

export interface FileRecord {
  id: string;
  tenant: string;
  name: string | null;
  contentType: string;
  size: number;
  sha256: string;
  createdAt: Date;
}

interface FileRow {
  id: string;
  tenant: string;
  name: string | null;
  content_type: string;
  size: string;
  sha256: string;
  created_at: Date;
}

const toRecord = (row: FileRow): FileRecord => ({
  id: row.id,
  tenant: row.tenant,
  name: row.name,
  contentType: row.content_type,
  size: Number(row.size),
  sha256: row.sha256,
  createdAt: row.created_at,
});

/** Uploaded input files (metadata; the bytes are in the upload store). */
export class FilesRepository {
  constructor(private readonly db: DataSource) {}

  async insert(file: Omit<FileRecord, 'createdAt'>): Promise<FileRecord> {
    const rows: FileRow[] = await this.db.query(
      `INSERT INTO files (id, tenant, name, content_type, size, sha256) VALUES ($1, $2, $3, $4, $5, $6)
       RETURNING *`,
      [file.id, file.tenant, file.name, file.contentType, file.size, file.sha256],
    );
    return toRecord(rows[0]);
  }

  /** The file when it exists and (unless `tenant` is undefined: admin) belongs to `tenant`. */
  async findById(id: string, tenant: string | undefined): Promise<FileRecord | null> {
    const rows: FileRow[] = await this.db.query(
      `SELECT * FROM files WHERE id = $1 AND ($2::text IS NULL OR tenant = $2)`,
      [id, tenant ?? null],
    );
    return rows[0] ? toRecord(rows[0]) : null;
  }

  /** Which of `ids` exist for `tenant` (undefined: any tenant). */
  async existing(ids: readonly string[], tenant: string | undefined): Promise<Set<string>> {
    if (!ids.length) return new Set();
    const rows: { id: string }[] = await this.db.query(
      `SELECT id FROM files WHERE id = ANY($1::uuid[]) AND ($2::text IS NULL OR tenant = $2)`,
      [ids, tenant ?? null],
    );
    return new Set(rows.map((r) => r.id));
  }
}
