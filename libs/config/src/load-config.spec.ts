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

  it('rejects a MAX_TIMEOUT_MS or DEFAULT_TIMEOUT_MS above 2^31-1 ms, naming the variable', () => {
    for (const schema of [GatewayConfigSchema, WorkerConfigSchema]) {
      expect(loadConfig(schema, { MAX_TIMEOUT_MS: '2147483647' }).MAX_TIMEOUT_MS).toBe(2147483647);
      for (const variable of ['MAX_TIMEOUT_MS', 'DEFAULT_TIMEOUT_MS']) {
        let caught: unknown;
        try {
          loadConfig(schema, { [variable]: '2147483648' });
        } catch (error) {
          caught = error;
        }
        expect(caught).toBeInstanceOf(ConfigError);
        expect((caught as ConfigError).problems).toEqual([
          { variable, message: expect.stringContaining('must be <= 2147483647') as unknown },
        ]);
      }
    }
  });

  it('defaults RESULT_INLINE_MAX_BYTES to 64 KiB and SSE_MAX_STREAMS_PER_TENANT to 1000', () => {
    expect(loadConfig(WorkerConfigSchema, {}).RESULT_INLINE_MAX_BYTES).toBe(65536);
    expect(loadConfig(GatewayConfigSchema, {}).SSE_MAX_STREAMS_PER_TENANT).toBe(1000);
  });

  it('gives the gateway its dispatcher settings: automatic window, aging, re-release, scheduled quota', () => {
    expect(loadConfig(GatewayConfigSchema, {})).toMatchObject({
      DISPATCH_WINDOW: 0,
      PRIORITY_AGING_MS: 60000,
      REDISPATCH_AFTER_MS: 30000,
      TENANT_MAX_SCHEDULED_JOBS: 100000,
    });
    expect(loadConfig(GatewayConfigSchema, { DISPATCH_WINDOW: '64', PRIORITY_AGING_MS: '0' })).toMatchObject({
      DISPATCH_WINDOW: 64,
      PRIORITY_AGING_MS: 0,
    });
    expect(() => loadConfig(GatewayConfigSchema, { DISPATCH_WINDOW: '-1' })).toThrow();
  });
});
