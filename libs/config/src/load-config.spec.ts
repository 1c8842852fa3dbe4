import { ConfigError, loadConfig } from './load-config';
import { GatewayConfigSchema, WorkerConfigSchema } from './schemas';

describe('loadConfig', () => {
  it('applies the SPEC §9 defaults', () => {
    const config = loadConfig(GatewayConfigSchema, {});
    expect(config.GATEWAY_PORT).toBe(3000);
    expect(config.DATABASE_URL).toBe('postgres://postgres@127.0.0.1:5432/switchyard');
    expect(config.AMQP_PREFIX).toBe('switchyard');
    expect(config.REDIS_PREFIX).toBe('sy:');
    expect(config.BODY_LIMIT_BYTES).toBe(1048576);
    expect(config.DEDUP_WINDOW_MS).toBe(10000);
  });

  it('coerces numbers from strings and treats empty strings as unset', () => {
    const config = loadConfig(WorkerConfigSchema, { WORKER_CONCURRENCY: '4', LEASE_MS: '' });
    expect(config.WORKER_CONCURRENCY).toBe(4);
    expect(config.LEASE_MS).toBe(30000);
  });

  it('names every bad variable', () => {
    let caught: unknown;
    try {
      loadConfig(GatewayConfigSchema, { GATEWAY_PORT: 'abc', REDIS_URL: 'http://x', LOG_LEVEL: 'loud' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const names = (caught as ConfigError).problems.map((p) => p.variable).sort();
    expect(names).toEqual(['GATEWAY_PORT', 'LOG_LEVEL', 'REDIS_URL']);
  });
});
