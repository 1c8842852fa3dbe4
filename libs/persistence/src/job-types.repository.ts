import type { DataSource } from 'typeorm';

/** Defaults a job type declares as plain values (the part of them JSON can carry). */
export interface JobTypeStaticDefaults {
  timeoutMs?: number;
  maxAttempts?: number;
  priority?: number;
  cacheable?: boolean;
  retryTimeouts?: boolean;
  /** Declared long-running: one job per work message. */
  long?: boolean;
}

/** One row of `job_types`: what the gateway needs to accept and route jobs of a type. */
export interface JobTypeRecord {
  type: string;
  queue: string;
  /** JSON Schema of the payload. */
  payloadSchema: Record<string, unknown>;
  defaults: JobTypeStaticDefaults;
  /** Names of defaults computed from the payload by the module (`priority`, `cacheable`). */
  computedDefaults: string[];
  /** "built-in" or the module path that defines the type. */
  source: string;
}

export interface StoredJobTypeRecord extends JobTypeRecord {
  createdAt: Date;
  updatedAt: Date;
}

interface JobTypeRow {
  type: string;
  queue: string;
  payload_schema: Record<string, unknown>;
  defaults: JobTypeStaticDefaults;
  computed_defaults: string[];
  source: string;
  created_at: Date;
  updated_at: Date;
}

const toRecord = (row: JobTypeRow): StoredJobTypeRecord => ({
  type: row.type,
  queue: row.queue,
  payloadSchema: row.payload_schema,
  defaults: row.defaults,
  computedDefaults: row.computed_defaults,
  source: row.source,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/**
 * The job-type registry. Workers upsert their definitions at boot; the gateway lists them and
 * reloads when `latestUpdate()` moves.
 */
export class JobTypesRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * Inserts or updates every record in one statement. `updated_at` moves only for a row whose
   * definition changed, so several workers booting with the same modules change nothing.
   */
  async upsert(records: readonly JobTypeRecord[]): Promise<void> {
    if (!records.length) return;
    await this.db.query(
      `INSERT INTO job_types (type, queue, payload_schema, defaults, computed_defaults, source)
       SELECT r.type, r.queue, r.payload_schema, r.defaults,
              ARRAY(SELECT jsonb_array_elements_text(r.computed_defaults)), r.source
       FROM jsonb_to_recordset($1::jsonb) AS r(
         type text, queue text, payload_schema jsonb, defaults jsonb, computed_defaults jsonb, source text)
       ON CONFLICT (type) DO UPDATE SET
         queue = EXCLUDED.queue,
         payload_schema = EXCLUDED.payload_schema,
         defaults = EXCLUDED.defaults,
         computed_defaults = EXCLUDED.computed_defaults,
         source = EXCLUDED.source,
         updated_at = now()
       WHERE (job_types.queue, job_types.payload_schema, job_types.defaults, job_types.computed_defaults,
              job_types.source)
         IS DISTINCT FROM
             (EXCLUDED.queue, EXCLUDED.payload_schema, EXCLUDED.defaults, EXCLUDED.computed_defaults,
              EXCLUDED.source)`,
      [
        JSON.stringify(
          records.map((r) => ({
            type: r.type,
            queue: r.queue,
            payload_schema: r.payloadSchema,
            defaults: r.defaults,
            computed_defaults: r.computedDefaults,
            source: r.source,
          })),
        ),
      ],
    );
  }

  async list(): Promise<StoredJobTypeRecord[]> {
    const rows: JobTypeRow[] = await this.db.query(`SELECT * FROM job_types ORDER BY type`);
    return rows.map(toRecord);
  }

  async get(type: string): Promise<StoredJobTypeRecord | null> {
    const rows: JobTypeRow[] = await this.db.query(`SELECT * FROM job_types WHERE type = $1`, [type]);
    return rows[0] ? toRecord(rows[0]) : null;
  }

  /** The newest `updated_at`, so a reader can cheaply tell whether to reload (null: empty). */
  async latestUpdate(): Promise<Date | null> {
    const rows: { latest: Date | null }[] = await this.db.query(
      `SELECT max(updated_at) AS latest FROM job_types`,
    );
    return rows[0]?.latest ?? null;
  }
}
