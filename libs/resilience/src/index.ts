export * from './backoff';
export * from './circuit-breaker';
export * from './classify';
export * from './dependency-unavailable';
