export * from './built-in';
export * from './handler';
export * from './registry';
export * from './synthetic/synthetic.handler';
export * from './artifacts/file-artifact.store';
