import { Type, type TLiteral, type TSchema, type TUnion } from '@sinclair/typebox';

// Building blocks of the API body schemas. A schema with a `title` is a named body: the
// gateway's OpenAPI document publishes it as the component of that name and refers to it
// wherever it is nested (see apiComponents()).

export const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const isoTime = (description = 'ISO-8601 UTC') => Type.String({ format: 'date-time', description });

/** One of `values` (an `enum` in the document); its static type is their union. */
export const literals = <const T extends readonly string[]>(values: T, description?: string) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    description === undefined ? {} : { description },
  ) as TUnion<TLiteral<T[number]>[]>;

/** `nextCursor` of every page: pass it back as `cursor` for the next page; null on the last. */
export const nextCursor = () => nullable(Type.String({ description: 'pass as `cursor` for the next page' }));
