import { setTimeout as delay } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { defineHandler, PermanentError, RetryableError } from '@switchyard/handler-sdk';

export const SyntheticPayloadSchema = Type.Object(
  {
    // Optional with a default: the published schema says what submissions may leave out.
    durationMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 600000, default: 0 })),
    steps: Type.Optional(Type.Integer({ minimum: 0, maximum: 100, default: 0 })),
    failAttempts: Type.Optional(Type.Integer({ minimum: 0, maximum: 20 })),
    fail: Type.Optional(Type.Union([Type.Literal('permanent'), Type.Literal('retryable')])),
    ignoreAbort: Type.Optional(Type.Boolean()),
    resultBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: 1048576 })),
    cacheable: Type.Optional(Type.Boolean()),
    /**
     * Fan-out (flows): after its own work the job spawns `children` synthetic jobs with the
     * `child` payload and, unless `continuation` is false, a synthetic continuation that depends
     * on all of them (its result lists theirs).
     */
    fanOut: Type.Optional(
      Type.Object(
        {
          children: Type.Integer({ minimum: 1, maximum: 10000 }),
          child: Type.Optional(
            Type.Object(
              {
                durationMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 600000 })),
                steps: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
                failAttempts: Type.Optional(Type.Integer({ minimum: 0, maximum: 20 })),
              },
              { additionalProperties: false },
            ),
          ),
          continuation: Type.Optional(Type.Boolean()),
          /** Keeps running this long after spawning (a window for crash tests and watchers). */
          holdMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 600000 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type SyntheticPayload = Static<typeof SyntheticPayloadSchema>;

/**
 * A job that does nothing but take time, report progress and fail on request: the platform's
 * own test and benchmark workload (SPEC §7).
 */
export const syntheticHandler = defineHandler<SyntheticPayload>({
  type: 'synthetic',
  queue: 'default',
  payloadSchema: SyntheticPayloadSchema,
  // A fan-out job's work is its children: never answered from the cache.
  defaults: { cacheable: (payload) => payload.cacheable === true && payload.fanOut === undefined },
  async handle(ctx) {
    const {
      durationMs = 0,
      steps = 0,
      failAttempts = 0,
      fail,
      ignoreAbort = false,
      resultBytes,
    } = ctx.payload;
    const pause = (ms: number) => (ignoreAbort ? delay(ms) : delay(ms, undefined, { signal: ctx.signal }));
    const slices = Math.max(steps, 1);
    for (let i = 1; i <= slices; i++) {
      if (durationMs > 0) await pause(durationMs / slices);
      if (steps > 0) ctx.progress((i / steps) * 100, 'working', `step ${i} of ${steps}`);
    }
    if (fail === 'permanent') throw new PermanentError('synthetic permanent failure');
    if (fail === 'retryable') throw new RetryableError('synthetic retryable failure');
    if (ctx.attempt <= failAttempts) {
      throw new RetryableError(`synthetic failure on attempt ${ctx.attempt} of ${failAttempts} planned`);
    }
    // A flow job reports what it received: each dependency's result by ref.
    const received = Object.keys(ctx.dependencies).length
      ? {
          dependencies: Object.fromEntries(
            Object.entries(ctx.dependencies).map(([ref, d]) => [ref, d.result]),
          ),
        }
      : {};
    if (ctx.payload.fanOut) {
      const { children, child = {}, continuation = true, holdMs = 0 } = ctx.payload.fanOut;
      const spawned = await ctx.spawn(
        Array.from({ length: children }, () => ({ type: 'synthetic', payload: { ...child } })),
        continuation ? { continuation: { type: 'synthetic', payload: {} } } : {},
      );
      if (holdMs > 0) await pause(holdMs);
      return {
        result: {
          ok: true,
          attempt: ctx.attempt,
          ...received,
          spawned: {
            flowId: spawned.flowId,
            children: spawned.children.length,
            continuation: spawned.continuation,
          },
        },
      };
    }
    if (resultBytes !== undefined) {
      const artifact = await ctx.artifacts.put(
        'result.bin',
        'application/octet-stream',
        randomBytes(resultBytes),
      );
      return { result: { ok: true, attempt: ctx.attempt, bytes: resultBytes, ...received }, artifact };
    }
    return { result: { ok: true, attempt: ctx.attempt, ...received } };
  },
});
