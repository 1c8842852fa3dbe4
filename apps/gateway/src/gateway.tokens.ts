import type { GatewayConfig } from '@switchyard/config';
import type { Logger } from '@switchyard/observability';

export const GATEWAY_CONFIG = Symbol('GATEWAY_CONFIG');
export const LOGGER = Symbol('LOGGER');
export const SERVICE_NAME = 'gateway';

export type { GatewayConfig, Logger };
