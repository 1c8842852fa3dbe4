import { loadConfig, TracingConfigSchema } from '@switchyard/config';
import {
  contextFrom,
  currentCarrier,
  detached,
  injectInto,
  spanContextOf,
  startSpan,
  startTracing,
  stopTracing,
  traced,
  traceIdOf,
  tracingEnabled,
  tracingRequested,
} from './tracing';

describe('tracing while OTEL_EXPORTER_OTLP_ENDPOINT is unset', () => {
  it('registers nothing and every helper is a no-op', async () => {
    expect(startTracing('test', {})).toBe(false);
    expect(tracingEnabled()).toBe(false);
    expect(startSpan('x')).toBeUndefined();
    expect(currentCarrier()).toBeUndefined();
    const headers: Record<string, unknown> = {};
    injectInto(headers);
    expect(headers).toEqual({});
    expect(
      spanContextOf({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }),
    ).toBeUndefined();
    expect(await traced('y', {}, () => Promise.resolve(42))).toBe(42);
    await expect(traced('z', {}, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(detached(() => 'ran')).toBe('ran');
  });

  it('gives the root context for any carrier', () => {
    const root = contextFrom(undefined);
    expect(contextFrom({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' })).toBe(
      root,
    );
  });
});

describe('traceIdOf', () => {
  it('reads the trace id of a W3C traceparent and refuses anything else', () => {
    expect(traceIdOf('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')).toBe(
      '0af7651916cd43dd8448eb211c80319c',
    );
    expect(traceIdOf('00-XYZ-b7ad6b7169203331-01')).toBeUndefined();
    expect(traceIdOf(null)).toBeUndefined();
    expect(traceIdOf(undefined)).toBeUndefined();
  });
});

describe('tracingRequested: the OpenTelemetry environment conventions', () => {
  const requested = (env: Record<string, string>) => tracingRequested(loadConfig(TracingConfigSchema, env));
  const BASE = 'http://collector:4318';
  const TRACES = 'http://collector:4318/custom/traces';

  it('turns tracing on for either endpoint', () => {
    expect(requested({})).toBe(false);
    expect(requested({ OTEL_EXPORTER_OTLP_ENDPOINT: BASE })).toBe(true);
    expect(requested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: TRACES })).toBe(true);
    expect(requested({ OTEL_EXPORTER_OTLP_ENDPOINT: BASE, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: TRACES })).toBe(
      true,
    );
    // Empty counts as unset (a `.env` line `X=`).
    expect(requested({ OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '' })).toBe(
      false,
    );
  });

  it('keeps tracing off when OTEL_SDK_DISABLED is true, in any case; any other value is false', () => {
    for (const value of ['true', 'TRUE', 'True', ' true ']) {
      expect([value, requested({ OTEL_EXPORTER_OTLP_ENDPOINT: BASE, OTEL_SDK_DISABLED: value })]).toEqual([
        value,
        false,
      ]);
      expect(requested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: TRACES, OTEL_SDK_DISABLED: value })).toBe(false);
    }
    for (const value of ['false', '1', 'yes', '']) {
      expect([value, requested({ OTEL_EXPORTER_OTLP_ENDPOINT: BASE, OTEL_SDK_DISABLED: value })]).toEqual([
        value,
        true,
      ]);
    }
    expect(
      startTracing(
        'test',
        loadConfig(TracingConfigSchema, { OTEL_EXPORTER_OTLP_ENDPOINT: BASE, OTEL_SDK_DISABLED: 'true' }),
      ),
    ).toBe(false);
    expect(tracingEnabled()).toBe(false);
  });

  it('refuses an endpoint that is not an http(s) URL', () => {
    expect(() =>
      loadConfig(TracingConfigSchema, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'collector:4318' }),
    ).toThrow(/OTEL_EXPORTER_OTLP_TRACES_ENDPOINT/);
  });
});

describe('tracing with only OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set', () => {
  // Nothing is exported here: the OTLP exporter loads its transport with a dynamic import(), which
  // jest's module sandbox does not run; e2e/observability-trace.e2e.ts exports from real services.
  it('starts, records spans and propagates their context, and stops', async () => {
    const config = loadConfig(TracingConfigSchema, {
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:9/custom/traces',
    });
    expect(config.OTEL_EXPORTER_OTLP_ENDPOINT).toBeUndefined();
    expect(startTracing('test', config)).toBe(true);
    expect(tracingEnabled()).toBe(true);
    // Never ended, so never exported.
    const span = startSpan('unit.span');
    expect(span?.isRecording()).toBe(true);
    const carrier = currentCarrier(span);
    expect(traceIdOf(carrier?.traceparent)).toBe(span?.spanContext().traceId);
    await stopTracing();
    expect(tracingEnabled()).toBe(false);
    expect(startSpan('after.stop')).toBeUndefined();
  });
});
