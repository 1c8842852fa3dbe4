export * from './catalogue';
export * from './intake-submit';
export * from './job-cancel';
export * from './job-dispatch';
export * from './job-event';
export * from './job-event-batch';
export * from './message';
