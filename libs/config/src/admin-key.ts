import { ConfigError } from './load-config';
import type { GatewayConfig } from './schemas';

/**
 * The bootstrap admin key used when ADMIN_API_KEY is unset in development and test. It is
 * published in the docs, so it is worthless as a secret: production refuses to start with it.
 */
export const DEV_ADMIN_API_KEY = 'sy_dev_admin_key_not_for_production';

/**
 * The bootstrap admin key of this gateway: ADMIN_API_KEY, or the dev key outside production.
 * Throws a ConfigError naming ADMIN_API_KEY in production when it is unset or the dev key.
 */
export function resolveAdminApiKey(config: Pick<GatewayConfig, 'NODE_ENV' | 'ADMIN_API_KEY'>): string {
  const key = config.ADMIN_API_KEY;
  if (config.NODE_ENV === 'production') {
    if (key === undefined) {
      throw new ConfigError([
        { variable: 'ADMIN_API_KEY', message: 'must be set in production (the dev key is refused)' },
      ]);
    }
    if (key === DEV_ADMIN_API_KEY) {
      throw new ConfigError([
        { variable: 'ADMIN_API_KEY', message: 'is the published dev key, which production refuses' },
      ]);
    }
  }
  return key ?? DEV_ADMIN_API_KEY;
}
