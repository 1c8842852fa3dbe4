export * from './api';
export * from './errors';
export * from './job';
export * from './job-status';
export * from './messages';
export * from './priority';
export * from './routing';
