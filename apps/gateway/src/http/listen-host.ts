import type { GatewayConfig } from '@switchyard/config';

/**
 * The address the gateway listens on: GATEWAY_HOST, else 0.0.0.0 in production and 127.0.0.1
 * otherwise, so a development gateway (which accepts the published dev key) is not reachable from
 * other machines unless GATEWAY_HOST says so.
 */
export function gatewayListenHost(config: Pick<GatewayConfig, 'NODE_ENV' | 'GATEWAY_HOST'>): string {
  return config.GATEWAY_HOST ?? (config.NODE_ENV === 'production' ? '0.0.0.0' : '127.0.0.1');
}
