import {
  contextFrom,
  currentCarrier,
  detached,
  injectInto,
  spanContextOf,
  startSpan,
  startTracing,
  traced,
  traceIdOf,
  tracingEnabled,
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
