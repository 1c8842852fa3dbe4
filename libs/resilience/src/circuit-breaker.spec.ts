import { CircuitOpenError, createCircuitBreaker, type CircuitState } from './circuit-breaker';

const fail = () => Promise.reject(new Error('provider down'));
const ok = () => Promise.resolve('ok');

async function waitUntil(probe: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('createCircuitBreaker', () => {
  const settings = { failureThreshold: 50, volumeThreshold: 3, rollingWindowMs: 10000, resetTimeoutMs: 300 };

  it('opens after the volume threshold of failures, refuses without calling, then half-opens and closes on a good probe', async () => {
    const states: CircuitState[] = [];
    const breaker = createCircuitBreaker('acme', settings, { onStateChange: (s) => states.push(s) });
    try {
      for (let i = 0; i < 2; i++) await expect(breaker.fire(fail)).rejects.toThrow('provider down');
      expect(breaker.state()).toBe('closed');
      await expect(breaker.fire(fail)).rejects.toThrow('provider down');
      expect(breaker.state()).toBe('open');

      let called = false;
      const refused = await breaker
        .fire(() => {
          called = true;
          return ok();
        })
        .catch((e: unknown) => e);
      expect(called).toBe(false);
      expect(refused).toBeInstanceOf(CircuitOpenError);
      const wait = (refused as CircuitOpenError).retryAfterMs;
      expect(wait).toBeGreaterThan(200);
      expect(wait).toBeLessThanOrEqual(300);

      await waitUntil(() => breaker.state() === 'half-open');
      expect(breaker.msUntilHalfOpen()).toBe(0);
      await expect(breaker.fire(ok)).resolves.toBe('ok');
      expect(breaker.state()).toBe('closed');
      expect(states).toEqual(['open', 'half-open', 'closed']);
    } finally {
      breaker.shutdown();
    }
  });

  it('lets only one probe through while half-open and re-opens when it fails', async () => {
    const breaker = createCircuitBreaker('acme', settings);
    try {
      for (let i = 0; i < 3; i++) await breaker.fire(fail).catch(() => undefined);
      await waitUntil(() => breaker.state() === 'half-open');
      let release!: () => void;
      const probe = breaker.fire(
        () => new Promise<void>((_, reject) => (release = () => reject(new Error('still down')))),
      );
      await expect(breaker.fire(ok)).rejects.toBeInstanceOf(CircuitOpenError);
      release();
      await expect(probe).rejects.toThrow('still down');
      expect(breaker.state()).toBe('open');
      expect(breaker.msUntilHalfOpen()).toBeGreaterThan(200);
    } finally {
      breaker.shutdown();
    }
  });

  it('does not count errors the caller marks as its own', async () => {
    const rejected = new Error('400 bad request');
    const breaker = createCircuitBreaker('acme', settings, { isFailure: (e) => e !== rejected });
    try {
      for (let i = 0; i < 5; i++)
        await expect(breaker.fire(() => Promise.reject(rejected))).rejects.toBe(rejected);
      expect(breaker.state()).toBe('closed');
    } finally {
      breaker.shutdown();
    }
  });
});
