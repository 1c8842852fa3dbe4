import Ajv, { type ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import type { Static, TSchema } from '@sinclair/typebox';
import { ApiError, type ApiErrorDetail } from '@switchyard/contracts';

const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);

function details(errors: ErrorObject[] | null | undefined): ApiErrorDetail[] {
  return (errors ?? []).map((e) => {
    const missing = e.keyword === 'required' ? `/${String(e.params['missingProperty'])}` : '';
    const extra = e.keyword === 'additionalProperties' ? `/${String(e.params['additionalProperty'])}` : '';
    const field = `${e.instancePath}${missing}${extra}`.replace(/^\//, '').replace(/\//g, '.');
    return { field: field || 'body', message: e.message ?? 'is invalid' };
  });
}

/** A body parser for one schema (compiled once): the typed body, or 400 `validation_failed`. */
export function bodyParser<T extends TSchema>(schema: T): (body: unknown) => Static<T> {
  const validate = ajv.compile<Static<T>>(schema);
  return (body) => {
    if (!validate(body)) {
      throw new ApiError(
        'validation_failed',
        'the request body does not match its schema',
        details(validate.errors),
      );
    }
    return body;
  };
}
