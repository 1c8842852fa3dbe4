import { Type, type Static } from '@sinclair/typebox';
import { nullable } from './schema';

/** `GET /stats`. */
export const StatsViewSchema = Type.Object(
  {
    tenant: nullable(Type.String({ description: 'null: every tenant (admin)' })),
    counts: Type.Object({
      byStatus: Type.Record(Type.String(), Type.Integer()),
      byType: Type.Record(Type.String(), Type.Record(Type.String(), Type.Integer())),
    }),
    throughput: Type.Object({
      completedPerMinute: Type.Number(),
      completedLastMinute: Type.Integer(),
      failedLast5Minutes: Type.Integer(),
      submittedLastMinute: Type.Integer(),
    }),
    durationMs: Type.Object({
      p50: nullable(Type.Integer()),
      p90: nullable(Type.Integer()),
      p99: nullable(Type.Integer()),
      count: Type.Integer({ description: 'completed jobs in the last hour' }),
    }),
    cache: Type.Object({
      hits: Type.Integer(),
      misses: Type.Integer(),
      hitRate: nullable(Type.Number({ minimum: 0, maximum: 1 })),
      dedupHits: Type.Integer(),
    }),
  },
  { title: 'Stats' },
);
export type StatsView = Static<typeof StatsViewSchema>;
