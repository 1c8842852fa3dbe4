import { Type, type Static } from '@sinclair/typebox';
import { nullable } from './schema';

export const JobTypeViewSchema = Type.Object({
  type: Type.String(),
  queue: Type.String(),
  payloadSchema: Type.Record(Type.String(), Type.Unknown(), { description: 'JSON Schema of the payload' }),
  defaults: Type.Object({
    timeoutMs: nullable(Type.Integer()),
    maxAttempts: nullable(Type.Integer()),
    priority: Type.Union([Type.Integer({ minimum: 0, maximum: 9 }), Type.Literal('computed')]),
    cacheable: Type.Union([Type.Boolean(), Type.Literal('computed')]),
    retryTimeouts: Type.Boolean(),
  }),
});
export type JobTypeView = Static<typeof JobTypeViewSchema>;

/** `GET /job-types`. */
export const JobTypeListSchema = Type.Object(
  { items: Type.Array(JobTypeViewSchema) },
  { title: 'JobTypeList' },
);
export type JobTypeList = Static<typeof JobTypeListSchema>;
