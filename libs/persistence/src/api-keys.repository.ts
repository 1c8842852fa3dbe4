import type { DataSource } from 'typeorm';

export interface ApiKeyRecord {
  id: string;
  tenant: string;
  name: string;
  scopes: string[];
  createdAt: Date;
  revokedAt: Date | null;
}

interface ApiKeyRow {
  id: string;
  tenant: string;
  name: string;
  scopes: string[];
  created_at: Date;
  revoked_at: Date | null;
}

const toRecord = (row: ApiKeyRow): ApiKeyRecord => ({
  id: row.id,
  tenant: row.tenant,
  name: row.name,
  scopes: row.scopes,
  createdAt: row.created_at,
  revokedAt: row.revoked_at,
});

/** API keys by the SHA-256 of the key; the key itself is never stored. */
export class ApiKeysRepository {
  constructor(private readonly db: DataSource) {}

  async create(key: { id: string; tenant: string; name: string; scopes: string[]; keyHash: string }) {
    const rows: ApiKeyRow[] = await this.db.query(
      `INSERT INTO api_keys (id, tenant, name, scopes, key_hash) VALUES ($1, $2, $3, $4, $5)
       RETURNING id, tenant, name, scopes, created_at, revoked_at`,
      [key.id, key.tenant, key.name, key.scopes, key.keyHash],
    );
    return toRecord(rows[0]);
  }

  /** The key with this hash, revoked or not (callers decide what a revoked key means). */
  async findByHash(keyHash: string): Promise<ApiKeyRecord | null> {
    return (await this.findByHashes([keyHash])).get(keyHash) ?? null;
  }

  /**
   * The keys with these hashes, revoked or not, by hash, in one statement (a gateway's refreshes
   * of the keys it caches); a hash with no key is absent from the map.
   */
  async findByHashes(keyHashes: readonly string[]): Promise<Map<string, ApiKeyRecord>> {
    if (!keyHashes.length) return new Map();
    const rows: (ApiKeyRow & { key_hash: string })[] = await this.db.query(
      `SELECT key_hash, id, tenant, name, scopes, created_at, revoked_at FROM api_keys
       WHERE key_hash = ANY($1::text[])`,
      [keyHashes],
    );
    return new Map(rows.map((row) => [row.key_hash, toRecord(row)]));
  }

  /**
   * Revokes a key; returns its hash (so caches can drop it), or null when no such key exists.
   * Revoking twice is harmless and keeps the first revocation time.
   */
  async revoke(id: string): Promise<string | null> {
    const [rows]: [{ key_hash: string }[], number] = await this.db.query(
      `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING key_hash`,
      [id],
    );
    return rows[0]?.key_hash ?? null;
  }

  /** The key with this id and its hash (job tokens are signed with a key derived from it). */
  async findWithHash(id: string): Promise<{ record: ApiKeyRecord; keyHash: string } | null> {
    const rows: (ApiKeyRow & { key_hash: string })[] = await this.db.query(
      `SELECT id, tenant, name, scopes, created_at, revoked_at, key_hash FROM api_keys WHERE id = $1`,
      [id],
    );
    return rows[0] ? { record: toRecord(rows[0]), keyHash: rows[0].key_hash } : null;
  }

  async list(tenant?: string): Promise<ApiKeyRecord[]> {
    const rows: ApiKeyRow[] = await this.db.query(
      `SELECT id, tenant, name, scopes, created_at, revoked_at FROM api_keys
       WHERE ($1::text IS NULL OR tenant = $1) ORDER BY created_at DESC LIMIT 1000`,
      [tenant ?? null],
    );
    return rows.map(toRecord);
  }
}
