export * from './isolation';
export * from './service-process';
export * from './stack';
export * from './api-client';
export * from './rabbit-cluster';
