import { Type } from '@sinclair/typebox';

/** The job a message is about: the first fields of the dispatch message and of every event's `data`. */
export const jobRefFields = {
  jobId: Type.String(),
  tenant: Type.String(),
  type: Type.String(),
  queue: Type.String(),
};
