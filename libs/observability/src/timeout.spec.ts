import { withTimeout } from './timeout';

describe('withTimeout', () => {
  it('settles like the work when it answers in time', async () => {
    await expect(withTimeout(Promise.resolve(7), 1000, 'late')).resolves.toBe(7);
    await expect(withTimeout(Promise.reject(new Error('refused')), 1000, 'late')).rejects.toThrow('refused');
  });

  it('rejects with the message once the time is up', async () => {
    const never = new Promise<never>(() => undefined);
    const started = Date.now();
    await expect(withTimeout(never, 50, 'no answer within 50 ms')).rejects.toThrow('no answer within 50 ms');
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });

  it('leaves no timer behind once the work settled', async () => {
    jest.useFakeTimers();
    try {
      await expect(withTimeout(Promise.resolve(1), 250, 'late')).resolves.toBe(1);
      await expect(withTimeout(Promise.reject(new Error('no')), 250, 'late')).rejects.toThrow('no');
      expect(jest.getTimerCount()).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });
});
