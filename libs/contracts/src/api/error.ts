import { Type, type Static } from '@sinclair/typebox';
import { API_ERRORS, type ApiErrorCode } from '../errors';
import { literals } from './schema';

export const ApiErrorDetailSchema = Type.Object({
  index: Type.Optional(Type.Integer({ minimum: 0, description: 'batch item' })),
  field: Type.Optional(Type.String()),
  message: Type.String(),
});
export type ApiErrorDetail = Static<typeof ApiErrorDetailSchema>;

/** The one error shape of SPEC §4; `code` is one of API_ERRORS (never renamed). */
export const ApiErrorBodySchema = Type.Object(
  {
    error: Type.Object({
      code: literals(Object.keys(API_ERRORS) as ApiErrorCode[]),
      message: Type.String(),
      details: Type.Array(ApiErrorDetailSchema),
      correlationId: Type.String(),
    }),
  },
  { title: 'Error', description: 'The one error shape of the API' },
);
export type ApiErrorBody = Static<typeof ApiErrorBodySchema>;

/** An error a service can throw anywhere; the HTTP layer turns it into the SPEC error shape. */
export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly details: ApiErrorDetail[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.status = API_ERRORS[code];
  }
}
