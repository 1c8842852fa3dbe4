// What a job type imports: the handler interface, `defineHandler`, its context and its errors.
export * from './context';
export * from './errors';
export * from './handler';
export * from './published';
export * from './registry';
