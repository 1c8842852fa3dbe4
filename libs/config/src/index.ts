export * from './admin-key';
export * from './load-config';
export * from './schemas';
export * from './node-options';
