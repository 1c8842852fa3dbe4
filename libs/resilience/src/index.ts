export * from './backoff';
export * from './classify';
