export * from './data-source';
export * from './entities';
export * from './job-row';
export * from './jobs.repository';
export * from './job-messages';
export * from './lifecycle.repository';
