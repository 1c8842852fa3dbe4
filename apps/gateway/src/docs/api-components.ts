import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import type { TSchema } from '@sinclair/typebox';
import { apiBodySchemas, type ApiBodyName } from '@switchyard/contracts';

export type ComponentName = ApiBodyName;

/**
 * The OpenAPI components, generated from the contracts' body catalogue: each named body once,
 * and every place another body nests it becomes a `$ref` to it (found by equal JSON, since the
 * catalogue composes its bodies from the same schema objects).
 */
export function componentSchemas(batchMaxItems: number, flowMaxJobs?: number): Record<string, SchemaObject> {
  const schemas: Record<string, TSchema> = apiBodySchemas(batchMaxItems, flowMaxJobs);
  const byJson = new Map(Object.entries(schemas).map(([name, schema]) => [JSON.stringify(schema), name]));
  const refer = (node: unknown, root: boolean): unknown => {
    if (Array.isArray(node)) return node.map((item) => refer(item, false));
    if (typeof node !== 'object' || node === null) return node;
    const name = root ? undefined : byJson.get(JSON.stringify(node));
    if (name !== undefined) return { $ref: `#/components/schemas/${name}` };
    return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, refer(value, false)]));
  };
  return Object.fromEntries(
    Object.entries(schemas).map(([name, schema]) => [name, refer(schema, true) as SchemaObject]),
  );
}
