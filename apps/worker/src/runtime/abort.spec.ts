import { abandonAfterAbort, AbortReason } from './abort';

describe('abandonAfterAbort', () => {
  it('returns the handler result when no abort happens', async () => {
    await expect(abandonAfterAbort(Promise.resolve(42), new AbortController().signal, 10)).resolves.toBe(42);
  });

  it('abandons a handler that ignores its signal after the grace period', async () => {
    const controller = new AbortController();
    const never = new Promise<number>(() => undefined);
    const started = Date.now();
    const result = abandonAfterAbort(never, controller.signal, 50);
    controller.abort(new AbortReason('cancelled', 'cancel requested'));
    await expect(result).rejects.toMatchObject({ code: 'cancelled' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });

  it('lets a handler that honours its signal finish within the grace period', async () => {
    const controller = new AbortController();
    const work = new Promise<string>((resolve) =>
      controller.signal.addEventListener('abort', () => setTimeout(() => resolve('stopped cleanly'), 5)),
    );
    const result = abandonAfterAbort(work, controller.signal, 1000);
    controller.abort(new AbortReason('timeout', 'too slow'));
    await expect(result).resolves.toBe('stopped cleanly');
  });
});
