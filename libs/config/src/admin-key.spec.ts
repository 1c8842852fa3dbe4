import { DEV_ADMIN_API_KEY, resolveAdminApiKey } from './admin-key';
import { ConfigError } from './load-config';

describe('resolveAdminApiKey', () => {
  it('uses the dev key in development and test when ADMIN_API_KEY is unset', () => {
    expect(resolveAdminApiKey({ NODE_ENV: 'development' })).toBe(DEV_ADMIN_API_KEY);
    expect(resolveAdminApiKey({ NODE_ENV: 'test' })).toBe(DEV_ADMIN_API_KEY);
    expect(resolveAdminApiKey({ NODE_ENV: 'test', ADMIN_API_KEY: 'a-real-key-of-16+' })).toBe(
      'a-real-key-of-16+',
    );
  });

  it('refuses production without a key or with the dev key, naming ADMIN_API_KEY', () => {
    for (const key of [undefined, DEV_ADMIN_API_KEY]) {
      let caught: unknown;
      try {
        resolveAdminApiKey({ NODE_ENV: 'production', ADMIN_API_KEY: key });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect((caught as ConfigError).problems.map((p) => p.variable)).toEqual(['ADMIN_API_KEY']);
      expect((caught as ConfigError).message).toContain('ADMIN_API_KEY');
    }
    expect(resolveAdminApiKey({ NODE_ENV: 'production', ADMIN_API_KEY: 'prod-secret-1234567' })).toBe(
      'prod-secret-1234567',
    );
  });
});
