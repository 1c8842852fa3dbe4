export * from './connections';
export * from './poll-pacing';
export * from './log-throttle';
