import { DataSource } from 'typeorm';
import { Client } from 'pg';
import { Initial1700000000000 } from './migrations/1700000000000-initial';
import { GatewayApi1700000001000 } from './migrations/1700000001000-gateway-api';
import { JobTypes1700000002000 } from './migrations/1700000002000-job-types';
import { HotUpdates1700000003000 } from './migrations/1700000003000-hot-updates';
import { DispatchReconcile1700000004000 } from './migrations/1700000004000-dispatch-reconcile';
import { Retention1700000004500 } from './migrations/1700000004500-retention';
import { OutboxMessage1700000005000 } from './migrations/1700000005000-outbox-message';
import { Dispatcher1700000006000 } from './migrations/1700000006000-dispatcher';
import { QueueSettings1700000006500 } from './migrations/1700000006500-queue-settings';
import { Schedules1700000009000 } from './migrations/1700000009000-schedules';
import { Flows1700000010000 } from './migrations/1700000010000-flows';
import { TracesLogsUsage1700000011000 } from './migrations/1700000011000-traces-logs-usage';
import { Webhooks1700000012000 } from './migrations/1700000012000-webhooks';
import { FlowControl1700000013000 } from './migrations/1700000013000-flow-control';
import { JobWebhookUrl1700000015000 } from './migrations/1700000015000-job-webhook-url';
import { RateLimits1700000016000 } from './migrations/1700000016000-rate-limits';
import { BacklogOrder1700000017000 } from './migrations/1700000017000-backlog-order';
import { HistoryWithState1700000018200 } from './migrations/1700000018200-history-with-state';
import { HotTableVacuum1700000019000 } from './migrations/1700000019000-hot-table-vacuum';
import { JobsUnplannedColumns1700000020000 } from './migrations/1700000020000-jobs-unplanned-columns';
import { JobsStatisticsSample1700000021000 } from './migrations/1700000021000-jobs-statistics-sample';

export const MIGRATIONS = [
  Initial1700000000000,
  GatewayApi1700000001000,
  JobTypes1700000002000,
  HotUpdates1700000003000,
  DispatchReconcile1700000004000,
  Retention1700000004500,
  OutboxMessage1700000005000,
  Dispatcher1700000006000,
  QueueSettings1700000006500,
  Schedules1700000009000,
  Flows1700000010000,
  TracesLogsUsage1700000011000,
  Webhooks1700000012000,
  FlowControl1700000013000,
  JobWebhookUrl1700000015000,
  RateLimits1700000016000,
  BacklogOrder1700000017000,
  HistoryWithState1700000018200,
  HotTableVacuum1700000019000,
  JobsUnplannedColumns1700000020000,
  JobsStatisticsSample1700000021000,
];

/** The settings every service reads for its pool (CommonEnv in @switchyard/config). */
export interface DatabaseSettings {
  DATABASE_URL: string;
  DB_POOL_SIZE: number;
}

/** A service's pool, named after the service in pg_stat_activity; not connected yet. */
export function serviceDataSource(settings: DatabaseSettings, service: string): DataSource {
  return createDataSource(settings.DATABASE_URL, {
    poolSize: settings.DB_POOL_SIZE,
    applicationName: service,
  });
}

/**
 * The connection pool and the migration runner. No entities: the repositories speak SQL (see
 * "Persistence" in docs/architecture.md), and the migrations are the one schema.
 */
export function createDataSource(url: string, options: { poolSize?: number; applicationName?: string } = {}) {
  return new DataSource({
    type: 'postgres',
    url,
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    synchronize: false,
    logging: false,
    applicationName: options.applicationName,
    extra: {
      max: options.poolSize ?? 10,
      // Fail fast when PostgreSQL is down instead of queueing requests for ever.
      connectionTimeoutMillis: 5000,
      // No JIT compilation: every statement here is a short index-driven one, and PostgreSQL's
      // cost estimate for the dispatcher's release statements over a large backlog passes
      // jit_above_cost, so it compiled them on every execution — measured with
      // pg_stat_statements, 36.8 s of JIT in 40.9 s of execution over 491 fair releases (~75 ms
      // each; docs/performance.md). Set per connection, so the server's setting stays the DBA's.
      //
      // Generic plans for the named statements (the insert, the worker's claim, completion and
      // turn, the release statements; unnamed statements are planned on every call whatever this
      // says): by default PostgreSQL re-plans a prepared statement whenever its generic plan's
      // estimate exceeds its custom plans', which for the worker's statements at one job a turn
      // (an id array of one against the generic plan's guess) is on almost every call — 0.4–0.6
      // ms of planning per statement, a quarter of PostgreSQL's CPU at 300 single submissions a
      // second. Their generic plans were checked to be the custom ones (index lookups by id and by
      // the partial indexes, whose status literals stay in the statements). A generic plan is made
      // for the table's statistics of the moment; the table maintenance re-analyzes a table that
      // doubled since (GROWTH_ANALYZE_FACTOR), which re-plans them.
      options: '-c jit=off -c plan_cache_mode=force_generic_plan',
    },
  });
}

/** Creates the database named in `url` when it does not exist yet (first `npm start`). */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (!name) throw new Error('DATABASE_URL names no database');
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      try {
        await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
      } catch (error) {
        // Another process created it between the check and the create.
        if ((error as { code?: string }).code !== '42P04') throw error;
      }
    }
  } finally {
    await client.end();
  }
}

/**
 * Applies pending migrations under an advisory lock so that several services starting at once
 * (compose, `npm start`) never run the same migration twice.
 */
export async function runMigrations(url: string): Promise<string[]> {
  await ensureDatabase(url);
  const dataSource = createDataSource(url, { poolSize: 2, applicationName: 'switchyard-migrate' });
  await dataSource.initialize();
  const runner = dataSource.createQueryRunner();
  try {
    await runner.query('SELECT pg_advisory_lock(727274)');
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    return applied.map((m) => m.name);
  } finally {
    await runner.query('SELECT pg_advisory_unlock(727274)').catch(() => undefined);
    await runner.release();
    await dataSource.destroy();
  }
}
