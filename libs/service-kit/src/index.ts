export * from './connections';
export * from './job-event-subscription';
