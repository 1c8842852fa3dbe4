import type { ClientBase, Pool, QueryResultRow } from 'pg';
import type { DataSource, EntityManager } from 'typeorm';

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

/**
 * Runs a named statement (parsed once per connection, its plan cached: PostgreSQL keeps a generic
 * plan once it costs no more than the custom ones) on the connection of `manager`'s transaction,
 * or on the pool when `manager` holds none. For the statements that run once per request or per
 * worker turn, whose parse and plan cost about as much as their execution (docs/performance.md);
 * their cached plans are invalidated by the ANALYZE of the tables they read, as the release
 * statements' are.
 */
export async function queryNamed<R extends QueryResultRow>(
  db: DataSource,
  manager: EntityManager | undefined,
  name: string,
  text: string,
  values: unknown[],
): Promise<R[]> {
  const runner = manager?.queryRunner;
  const client: Pick<ClientBase, 'query'> =
    runner && !runner.isReleased ? ((await runner.connect()) as ClientBase) : poolOf(db);
  const result = await client.query<R>({ name, text, values });
  return result.rows;
}
