import { createRequire } from 'node:module';
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type SpanContext,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { TracingConfig } from '@switchyard/config';

export { SpanKind };
export type { Context, Span };

/** Switchyard's own span attributes (names other tools query on: never rename them). */
export const SPAN_ATTRIBUTES = {
  jobId: 'switchyard.job.id',
  jobType: 'switchyard.job.type',
  attempt: 'switchyard.job.attempt',
  tenant: 'switchyard.tenant',
  jobs: 'switchyard.jobs',
  step: 'switchyard.step',
  release: 'switchyard.release',
  link: 'switchyard.link',
  ack: 'switchyard.ack',
} as const;

/** The W3C trace context of a span as it travels in headers and in the job row. */
export interface TraceCarrier {
  traceparent: string;
  tracestate?: string;
}

const TRACER = 'switchyard';
const propagator = new W3CTraceContextPropagator();

let enabled = false;
let provider: NodeTracerProvider | undefined;
let unregister: (() => void) | undefined;

/** Health and metrics scrapes are not worth a trace each. */
const UNTRACED_PATHS = /^\/(health\/|metrics$)/;

/**
 * Whether the settings ask for tracing, as OpenTelemetry's environment conventions read them: an
 * OTLP endpoint is set (the base OTEL_EXPORTER_OTLP_ENDPOINT or the signal's own
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) and OTEL_SDK_DISABLED is not `true` (case-insensitive).
 */
export function tracingRequested(config: TracingConfig): boolean {
  if (config.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  return Boolean(config.OTEL_EXPORTER_OTLP_ENDPOINT || config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * Starts OpenTelemetry tracing when tracingRequested(config): a tracer provider that exports
 * spans in batches over OTLP/HTTP (the exporter reads the standard OTEL_EXPORTER_OTLP_* variables:
 * the traces endpoint as given, else `<base endpoint>/v1/traces`), W3C trace context propagation,
 * and the HTTP, pg, ioredis and undici instrumentations. Otherwise nothing is registered at all
 * and every helper below is a no-op that costs one boolean test. Call it first in a service's
 * start, before its connections are made.
 */
export function startTracing(service: string, config: TracingConfig): boolean {
  if (enabled || !tracingRequested(config)) return enabled;
  const resource = resourceFromAttributes({
    [ATTR_SERVICE_NAME]: config.OTEL_SERVICE_NAME ?? `switchyard-${service}`,
  }).merge(detectResources({ detectors: [envDetector] }));
  provider = new NodeTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  provider.register({ propagator });
  unregister = registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (request) => UNTRACED_PATHS.test(request.url ?? ''),
        // The exporter's own requests would otherwise trace themselves.
        ignoreOutgoingRequestHook: () => true,
      }),
      new PgInstrumentation({ requireParentSpan: true }),
      new IORedisInstrumentation({ requireParentSpan: true }),
      new UndiciInstrumentation(),
    ],
  });
  // The hooks patch a module when it is next required: load the instrumented ones again now, as a
  // service's imports loaded them before its start could call this.
  const load = createRequire(__filename);
  for (const name of INSTRUMENTED_MODULES) {
    try {
      load(name);
    } catch {
      // Not installed where this runs (e.g. ioredis in a tool): nothing to patch.
    }
  }
  enabled = true;
  return true;
}

const INSTRUMENTED_MODULES = ['http', 'https', 'pg', 'ioredis'];

/** Exports what is buffered and stops (on shutdown, after the service's last work). */
export async function stopTracing(): Promise<void> {
  if (!enabled) return;
  enabled = false;
  unregister?.();
  await provider?.shutdown().catch(() => undefined);
}

function tracer() {
  return trace.getTracer(TRACER);
}

/** True while spans are recorded: callers skip every tracing step (and its allocations) otherwise. */
export function tracingEnabled(): boolean {
  return enabled;
}

/** The W3C context of the active span (or of `span`), to store on a job row or send along. */
export function currentCarrier(span?: Span): TraceCarrier | undefined {
  if (!enabled) return undefined;
  const carrier: Partial<TraceCarrier> = {};
  const ctx = span ? trace.setSpan(context.active(), span) : context.active();
  propagator.inject(ctx, carrier, {
    set: (c, key, value) => {
      (c as Record<string, string>)[key] = value;
    },
  });
  return carrier.traceparent ? (carrier as TraceCarrier) : undefined;
}

/** The context a carrier (headers, a job row) names as parent; the root context when it names none. */
export function contextFrom(carrier: { traceparent?: unknown; tracestate?: unknown } | undefined): Context {
  if (!enabled || !carrier || typeof carrier.traceparent !== 'string') return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, carrier, {
    get: (c, key) => {
      const value = (c as Record<string, unknown>)[key];
      return typeof value === 'string' ? value : undefined;
    },
    keys: (c) => Object.keys(c),
  });
}

/** Writes the W3C headers of `ctx` (the active context by default) into `headers`. */
export function injectInto(headers: Record<string, unknown>, ctx: Context = context.active()): void {
  if (!enabled) return;
  propagator.inject(ctx, headers, {
    set: (c, key, value) => {
      (c as Record<string, unknown>)[key] = value;
    },
  });
}

/** The span context a carrier names (for a link), if any. */
export function spanContextOf(carrier: TraceCarrier | undefined | null): SpanContext | undefined {
  if (!enabled || !carrier) return undefined;
  return trace.getSpanContext(contextFrom(carrier));
}

/** The trace id of a W3C traceparent (`00-<trace id>-<span id>-<flags>`). */
export function traceIdOf(traceparent: string | null | undefined): string | undefined {
  const id = traceparent?.split('-')[1];
  return id && /^[0-9a-f]{32}$/.test(id) ? id : undefined;
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** The parent; the active context by default. */
  parent?: Context;
  links?: Link[];
}

/** Starts a span (not made active); undefined when tracing is off. */
export function startSpan(name: string, options: SpanOptions = {}): Span | undefined {
  if (!enabled) return undefined;
  return tracer().startSpan(
    name,
    { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes, links: options.links },
    options.parent ?? context.active(),
  );
}

/** Ends a span, recording `error` as its status when given. */
export function endSpan(span: Span | undefined, error?: unknown): void {
  if (!span) return;
  if (error !== undefined) {
    span.recordException(error instanceof Error ? error : (JSON.stringify(error) ?? 'unknown error'));
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: error instanceof Error ? error.message : undefined,
    });
  }
  span.end();
}

/** The active context with `span` as its span (the parent of `span`'s children). */
export function contextOf(span: Span): Context {
  return trace.setSpan(context.active(), span);
}

/** The trace id of the active span, if any. */
export function activeTraceId(): string | undefined {
  return trace.getActiveSpan()?.spanContext().traceId;
}

/** Runs `fn` with `span` active (its children and outgoing headers hang under it). */
export function withSpan<T>(span: Span | undefined, fn: () => T): T {
  if (!span) return fn();
  return context.with(trace.setSpan(context.active(), span), fn);
}

/**
 * Runs `fn` outside the active trace: work it starts (a dispatcher pass serving many jobs) must not
 * be counted as part of whichever request happened to wake it.
 */
export function detached<T>(fn: () => T): T {
  if (!enabled) return fn();
  return context.with(ROOT_CONTEXT, fn);
}

/** Runs `fn` in `ctx`. */
export function withContext<T>(ctx: Context | undefined, fn: () => T): T {
  if (!ctx) return fn();
  return context.with(ctx, fn);
}

/**
 * Runs `fn` inside a new active span that ends when `fn` settles (with its error, if any). With
 * tracing off it is `fn()`.
 */
export async function traced<T>(name: string, options: SpanOptions, fn: () => Promise<T>): Promise<T> {
  if (!enabled) return fn();
  const span = startSpan(name, options);
  try {
    const result = await withSpan(span, fn);
    endSpan(span);
    return result;
  } catch (error) {
    endSpan(span, error);
    throw error;
  }
}
