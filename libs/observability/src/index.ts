export * from './context';
export * from './health';
export * from './health.module';
export * from './http-errors';
export * from './logger';
export * from './metrics';
export * from './service-host';
