// Job artifacts and uploaded input files: the interfaces the services use and their local-disk stores.
export * from './file-artifact.store';
export * from './upload.store';
