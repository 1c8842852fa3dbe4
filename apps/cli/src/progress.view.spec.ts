import { Capture } from '../test/run-cli';
import type { JobProgress } from './job.watch';
import { createStyle, Output } from './output';
import {
  createProgressView,
  describeProgress,
  estimateRemainingMs,
  jobDurationMs,
  ProgressClock,
} from './progress.view';

const running = (progress: number, extra: Partial<JobProgress> = {}): JobProgress => ({
  status: 'running',
  step: 'generating',
  progress,
  message: null,
  ...extra,
});

describe('progress display', () => {
  it('extrapolates the remaining time from the progress so far', () => {
    expect(estimateRemainingMs(25, 1000)).toBe(3000);
    expect(estimateRemainingMs(0, 1000)).toBeUndefined();
    expect(estimateRemainingMs(100, 1000)).toBeUndefined();
  });

  it('describes step, message, elapsed and estimate', () => {
    let now = 10_000;
    const clock = new ProgressClock(() => now);
    clock.observe(running(0));
    now += 2000;
    const text = describeProgress(running(40, { message: 'rendering layer 2' }), clock, createStyle(false));
    expect(text).toBe('generating · rendering layer 2 · 2.0s elapsed · ~3.0s left');
  });

  it('shows the estimated wait while queued and the attempt while retrying', () => {
    const clock = new ProgressClock(() => 0);
    const style = createStyle(false);
    expect(
      describeProgress({ ...running(0), status: 'queued', step: null, estimatedWaitMs: 4000 }, clock, style),
    ).toBe('queued · 0.0s elapsed · ~4.0s wait');
    expect(describeProgress({ ...running(30), status: 'retrying', attempt: 1 }, clock, style)).toBe(
      'retrying after attempt 1 · 0.0s elapsed',
    );
  });

  it("shows a finished job's own duration, not the time since it finished", () => {
    // Watched a day after it ran for 2.5 s.
    const clock = new ProgressClock(() => Date.parse('2026-01-02T10:00:00Z'));
    const finished: JobProgress = {
      status: 'failed',
      step: null,
      progress: 40,
      message: null,
      createdAt: '2026-01-01T09:59:58.000Z',
      startedAt: '2026-01-01T10:00:00.000Z',
      finishedAt: '2026-01-01T10:00:02.500Z',
    };
    expect(describeProgress(finished, clock, createStyle(false))).toBe('failed · took 2.5s');
    expect(jobDurationMs(finished)).toBe(2500);
    // Cancelled before it started: from submission to the end.
    expect(jobDurationMs({ ...finished, status: 'cancelled', startedAt: null })).toBe(4500);
    expect(jobDurationMs({ ...finished, status: 'running', finishedAt: null })).toBeUndefined();
  });

  it('prints one line per visible change when not on a terminal', () => {
    const stdout = new Capture();
    const out = new Output(
      { stdout, stderr: new Capture(), env: {}, isTTY: false },
      false,
      createStyle(false),
    );
    const view = createProgressView(out, new ProgressClock(() => 0));
    for (const p of [running(10), running(10), running(10.4), running(20), running(20, { message: 'hi' })])
      view.update(p);
    view.stop();
    expect(
      stdout.text
        .trimEnd()
        .split('\n')
        .map((l) => l.slice(0, 4)),
    ).toEqual([' 10%', ' 20%', ' 20%']);
  });

  it('prints nothing in --json mode', () => {
    const stdout = new Capture();
    const out = new Output({ stdout, stderr: new Capture(), env: {}, isTTY: true }, true, createStyle(false));
    const view = createProgressView(out);
    view.update(running(50));
    view.stop();
    expect(stdout.text).toBe('');
  });
});
