import type { Pool } from 'pg';
import type { DataSource } from 'typeorm';

/**
 * The node-postgres Pool under an initialized DataSource, for the hot statements that skip
 * TypeORM's query wrapper (rows as arrays, exact parameter handling). Internal to this lib:
 * callers get repository methods, never a pool.
 */
export function poolOf(db: DataSource): Pool {
  const pool = (db.driver as unknown as { master?: Pool }).master;
  if (!pool) throw new Error('the DataSource is not initialized');
  return pool;
}
