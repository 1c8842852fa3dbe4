import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { connect } from 'amqplib';
import Redis from 'ioredis';
import { Client } from 'pg';

const run = promisify(execFile);

/** Where the local services are; CI and developer machines both run them on localhost. */
export const TEST_SERVICES = {
  postgres: process.env['TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432',
  amqp: process.env['TEST_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672',
  redis: process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379',
};

/** A short unique name for one test run: `sytest_<hex>`. */
export function testRunId(): string {
  return `sytest_${randomBytes(4).toString('hex')}`;
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/**
 * A fresh database prepared by `migrate` (which creates it: persistence's `runMigrations`), dropped
 * again by `drop()`. The step is a parameter so that this lib does not depend on persistence,
 * whose own specs use it.
 */
export async function createTestDatabase(
  migrate: (url: string) => Promise<unknown>,
  name = testRunId(),
): Promise<TestDatabase> {
  const url = `${TEST_SERVICES.postgres}/${name}`;
  await migrate(url);
  return {
    name,
    url,
    async drop() {
      const admin = new Client({ connectionString: `${TEST_SERVICES.postgres}/postgres` });
      await admin.connect();
      try {
        await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await admin.end();
      }
    },
  };
}

/** Deletes every queue and exchange whose name starts with `prefix.` (rabbitmqctl lists them). */
export async function removeAmqpPrefix(prefix: string): Promise<void> {
  const list = async (what: 'list_queues' | 'list_exchanges') => {
    const { stdout } = await run('rabbitmqctl', ['-q', what, 'name', '--no-table-headers']);
    return stdout
      .split('\n')
      .map((l) => l.trim())
      .filter((n) => n.startsWith(`${prefix}.`));
  };
  const [queues, exchanges] = await Promise.all([list('list_queues'), list('list_exchanges')]);
  const connection = await connect(TEST_SERVICES.amqp);
  try {
    const channel = await connection.createChannel();
    for (const q of queues) await channel.deleteQueue(q);
    for (const e of exchanges) await channel.deleteExchange(e);
    await channel.close();
  } finally {
    await connection.close();
  }
}

/** Deletes every Redis key under `prefix`. */
export async function removeRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis(TEST_SERVICES.redis);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** Polls until `probe` returns a value other than undefined/false, or fails after the deadline. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out waiting for ${options.what ?? 'condition'}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
  }
}
