import { Type, type Static } from '@sinclair/typebox';
import { literals } from './schema';

/** One dependency's line of `GET /api/v1/health`. */
export const HealthCheckSchema = Type.Object({
  status: literals(['up', 'degraded', 'down']),
  latencyMs: Type.Optional(Type.Integer()),
  detail: Type.Optional(Type.String()),
});
export type HealthCheck = Static<typeof HealthCheckSchema>;

/** `GET /api/v1/health`: 200 healthy or degraded, 503 unhealthy. */
export const HealthSchema = Type.Object(
  {
    status: literals(['healthy', 'degraded', 'unhealthy']),
    checks: Type.Object({
      database: HealthCheckSchema,
      broker: HealthCheckSchema,
      redis: HealthCheckSchema,
      disk: HealthCheckSchema,
      workers: HealthCheckSchema,
      circuits: HealthCheckSchema,
    }),
  },
  { title: 'Health' },
);
export type Health = Static<typeof HealthSchema>;

/** `GET /health/live` of every service: the process answers. */
export const LivenessSchema = Type.Object({ status: Type.Literal('ok') }, { title: 'Liveness' });
export type Liveness = Static<typeof LivenessSchema>;

/**
 * `GET /health/ready` of every service: 200 `ok`, 503 `unavailable` when a dependency is down.
 * Services add informative entries to `checks` (the worker's circuits) beside their probes.
 */
export const ReadinessSchema = Type.Object(
  {
    status: literals(['ok', 'unavailable']),
    checks: Type.Record(
      Type.String(),
      Type.Object(
        {
          status: Type.String({ description: '`up` or `down` for probes' }),
          error: Type.Optional(Type.String()),
          latencyMs: Type.Optional(Type.Integer({ minimum: 0 })),
        },
        { additionalProperties: true },
      ),
    ),
  },
  { title: 'Readiness' },
);
export type Readiness = Static<typeof ReadinessSchema>;
