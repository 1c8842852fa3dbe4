import { abandonAfterAbort, AbortReason, AttemptAbort } from './abort';

describe('abandonAfterAbort', () => {
  it('returns the handler result when no abort happens', async () => {
    await expect(abandonAfterAbort(Promise.resolve(42), new AttemptAbort(), 10)).resolves.toBe(42);
  });

  it('passes on the handler error when no abort happens', async () => {
    await expect(
      abandonAfterAbort(Promise.reject(new Error('handler broke')), new AttemptAbort(), 10),
    ).rejects.toThrow('handler broke');
  });

  it('abandons a handler that ignores its signal after the grace period', async () => {
    const abort = new AttemptAbort();
    const never = new Promise<number>(() => undefined);
    const started = Date.now();
    const result = abandonAfterAbort(never, abort, 50);
    abort.abort(new AbortReason('cancelled', 'cancel requested'));
    await expect(result).rejects.toMatchObject({ code: 'cancelled' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });

  it('abandons a handler of an attempt aborted before it was awaited', async () => {
    const abort = new AttemptAbort();
    abort.abort(new AbortReason('shutdown', 'stopping'));
    await expect(abandonAfterAbort(new Promise<number>(() => undefined), abort, 5)).rejects.toMatchObject({
      code: 'shutdown',
    });
  });

  it('lets a handler that honours its signal finish within the grace period', async () => {
    const abort = new AttemptAbort();
    const work = new Promise<string>((resolve) =>
      abort.signal.addEventListener('abort', () => setTimeout(() => resolve('stopped cleanly'), 5)),
    );
    const result = abandonAfterAbort(work, abort, 1000);
    abort.abort(new AbortReason('timeout', 'too slow'));
    await expect(result).resolves.toBe('stopped cleanly');
  });
});

describe('AttemptAbort', () => {
  it('aborts once, with the first reason, and fires the signal the handler holds', () => {
    const abort = new AttemptAbort();
    const signal = abort.signal;
    expect(signal.aborted).toBe(false);
    abort.abort(new AbortReason('cancelled', 'cancelled on request'));
    abort.abort(new AbortReason('timeout', 'too slow'));
    expect(abort.aborted).toBe(true);
    expect(abort.reason?.code).toBe('cancelled');
    expect(signal.aborted).toBe(true);
    expect((signal.reason as AbortReason).code).toBe('cancelled');
  });

  it('hands a handler that first reads its signal after the abort an aborted signal', () => {
    const abort = new AttemptAbort();
    abort.abort(new AbortReason('lease_lost', 'lease lost'));
    expect(abort.signal.aborted).toBe(true);
    expect((abort.signal.reason as AbortReason).code).toBe('lease_lost');
  });

  it('calls each callback once, not once removed, and at once when already aborted', () => {
    const abort = new AttemptAbort();
    const calls: string[] = [];
    abort.onAbort(() => calls.push('kept'));
    const off = abort.onAbort(() => calls.push('removed'));
    off();
    abort.abort(new AbortReason('timeout', 'too slow'));
    abort.abort(new AbortReason('timeout', 'again'));
    abort.onAbort(() => calls.push('late'));
    expect(calls).toEqual(['kept', 'late']);
  });
});
