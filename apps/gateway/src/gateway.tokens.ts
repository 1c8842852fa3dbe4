import type { GatewayConfig } from '@switchyard/config';
import type { Logger } from '@switchyard/observability';

export const GATEWAY_CONFIG = Symbol('GATEWAY_CONFIG');
export const LOGGER = Symbol('LOGGER');
export const SERVICE_NAME = 'gateway';
/** The gateway's Redis command connection (ioredis). */
export const REDIS = Symbol('REDIS');
/** SHA-256 of the bootstrap admin key (ADMIN_API_KEY or the dev key). */
export const ADMIN_KEY_HASH = Symbol('ADMIN_KEY_HASH');
/** Where job artifacts are read from (an ArtifactStore: files by default, S3-compatible possible). */
export const ARTIFACT_STORE = Symbol('ARTIFACT_STORE');
/** Where uploaded input files go (an UploadStore). */
export const UPLOAD_STORE = Symbol('UPLOAD_STORE');
/** The job type registry (HandlerRegistry of definitions). */
export const HANDLER_REGISTRY = Symbol('HANDLER_REGISTRY');
/** The gateway's SPEC §8 counters (GatewayMetrics). */
export const GATEWAY_METRICS = Symbol('GATEWAY_METRICS');
/** The prom-client Registry served on /metrics. */
export const METRICS = Symbol('METRICS');

export type { GatewayConfig, Logger };
