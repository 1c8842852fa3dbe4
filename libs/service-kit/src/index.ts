export * from './connections';
export * from './poll-pacing';
