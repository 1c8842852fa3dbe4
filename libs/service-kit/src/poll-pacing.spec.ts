import { POLL_COST_FACTOR, POLL_MAX_DELAY_MS, pollDelay } from './poll-pacing';

describe('pollDelay', () => {
  it('keeps the interval while a poll is cheap', () => {
    expect(pollDelay(1000, 0)).toBe(1000);
    expect(pollDelay(1000, 1000 / POLL_COST_FACTOR)).toBe(1000);
  });

  it('waits POLL_COST_FACTOR times the last duration when that is longer', () => {
    expect(pollDelay(1000, 55)).toBe(55 * POLL_COST_FACTOR);
    expect(pollDelay(2000, 250)).toBe(250 * POLL_COST_FACTOR);
  });

  it('never waits longer than POLL_MAX_DELAY_MS, unless the interval itself is longer', () => {
    expect(pollDelay(1000, 60_000)).toBe(POLL_MAX_DELAY_MS);
    expect(pollDelay(60_000, 60_000)).toBe(60_000);
  });

  it('treats a negative duration (a clock step) as zero', () => {
    expect(pollDelay(1000, -500)).toBe(1000);
  });
});
