import { withTimeout } from './timeout';

/** A dependency a service needs to be ready; `check` rejects when it is not usable. */
export interface HealthCheck {
  name: string;
  check(): Promise<void>;
}

export interface ReadinessReport {
  status: 'ok' | 'unavailable';
  checks: Record<string, { status: 'up' | 'down'; error?: string; latencyMs: number }>;
}

const CHECK_TIMEOUT_MS = 2000;

export async function runHealthChecks(checks: readonly HealthCheck[]): Promise<ReadinessReport> {
  const results = await Promise.all(
    checks.map(async (c) => {
      const started = Date.now();
      try {
        await withTimeout(c.check(), CHECK_TIMEOUT_MS, `${c.name} check timed out`);
        return [c.name, { status: 'up' as const, latencyMs: Date.now() - started }] as const;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        return [
          c.name,
          { status: 'down' as const, error: message, latencyMs: Date.now() - started },
        ] as const;
      }
    }),
  );
  const checksByName: ReadinessReport['checks'] = {};
  for (const [name, result] of results) checksByName[name] = result;
  const report: ReadinessReport = { status: 'ok', checks: checksByName };
  if (results.some(([, r]) => r.status === 'down')) report.status = 'unavailable';
  return report;
}

/** A check that runs a probe (e.g. `SELECT 1`, `PING`). */
export function probeCheck(name: string, probe: () => Promise<unknown>): HealthCheck {
  return { name, check: () => probe().then(() => undefined) };
}

/** A check on a client that tracks its own connection state (the AMQP client). */
export function connectionCheck(name: string, isConnected: () => boolean): HealthCheck {
  return {
    name,
    check: () => (isConnected() ? Promise.resolve() : Promise.reject(new Error('not connected'))),
  };
}

/** PostgreSQL answers a `SELECT 1`. */
export function postgresCheck(db: { query(sql: string): Promise<unknown> }): HealthCheck {
  return probeCheck('postgres', () => db.query('SELECT 1'));
}

/** The AMQP client holds an open connection to RabbitMQ. */
export function rabbitmqCheck(amqp: { isConnected(): boolean }): HealthCheck {
  return connectionCheck('rabbitmq', () => amqp.isConnected());
}

/** Redis answers a `PING`. */
export function redisCheck(redis: { ping(): Promise<unknown> }): HealthCheck {
  return probeCheck('redis', () => redis.ping());
}
