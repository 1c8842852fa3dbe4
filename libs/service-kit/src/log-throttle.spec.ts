import { LogThrottle } from './log-throttle';

describe('LogThrottle', () => {
  it('allows the first line of a key, then one per interval, each key on its own', () => {
    let now = 0;
    const throttle = new LogThrottle(10_000, () => now);
    expect(throttle.allow('release')).toBe(true);
    expect(throttle.allow('release')).toBe(false);
    expect(throttle.allow('promote')).toBe(true);
    now = 9_999;
    expect(throttle.allow('release')).toBe(false);
    now = 10_000;
    expect(throttle.allow('release')).toBe(true);
    expect(throttle.allow('release')).toBe(false);
  });
});
