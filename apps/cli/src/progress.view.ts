import { SingleBar } from 'cli-progress';
import { isTerminal } from '@switchyard/contracts';
import { formatDuration } from './format';
import type { JobProgress } from './job.watch';
import type { Output, Style } from './output';

export interface ProgressView {
  update(progress: JobProgress): void;
  /** Leaves the last state on screen and moves to a fresh line. */
  stop(): void;
}

const MAX_PLAUSIBLE_AGE_MS = 24 * 3600_000;

/** Elapsed time and a remaining-time estimate, from what the job reports and the local clock. */
export class ProgressClock {
  private readonly watchStarted: number;
  private runStarted: number | undefined;

  constructor(private readonly now: () => number = Date.now) {
    this.watchStarted = now();
  }

  observe(p: JobProgress): void {
    if (this.runStarted !== undefined || p.status !== 'running') return;
    this.runStarted = this.serverTime(p.startedAt) ?? this.now();
  }

  elapsedMs(p: JobProgress): number {
    return this.now() - (this.serverTime(p.createdAt) ?? this.watchStarted);
  }

  /** A finished job's own duration (finishedAt − startedAt, or − createdAt if it never started). */
  ranForMs(p: JobProgress): number | undefined {
    return jobDurationMs(p);
  }

  /** Linear extrapolation of the running time so far; undefined until there is progress to go on. */
  remainingMs(p: JobProgress): number | undefined {
    if (p.status === 'queued' || p.status === 'retrying') return p.estimatedWaitMs;
    if (p.status !== 'running' || this.runStarted === undefined) return undefined;
    return estimateRemainingMs(p.progress, this.now() - this.runStarted);
  }

  /** A server timestamp, unless clock skew makes it nonsense here. */
  private serverTime(iso: string | null | undefined): number | undefined {
    if (iso === null || iso === undefined) return undefined;
    const t = Date.parse(iso);
    const age = this.now() - t;
    return Number.isNaN(t) || age < 0 || age > MAX_PLAUSIBLE_AGE_MS ? undefined : t;
  }
}

/** finishedAt − startedAt (createdAt when it never started) of a terminal job; undefined otherwise. */
export function jobDurationMs(p: {
  status: JobProgress['status'];
  createdAt?: string | null;
  startedAt?: string | null;
  finishedAt?: string | null;
}): number | undefined {
  if (!isTerminal(p.status) || !p.finishedAt) return undefined;
  const end = Date.parse(p.finishedAt);
  const start = Date.parse(p.startedAt ?? p.createdAt ?? '');
  return Number.isNaN(end) || Number.isNaN(start) ? undefined : Math.max(0, end - start);
}

export function estimateRemainingMs(progress: number, runningForMs: number): number | undefined {
  if (progress <= 0 || progress >= 100 || runningForMs <= 0) return undefined;
  return (runningForMs * (100 - progress)) / progress;
}

/** The text after the bar: step, message, elapsed and estimate. */
export function describeProgress(p: JobProgress, clock: ProgressClock, style: Style): string {
  const parts: string[] = [];
  parts.push(phase(p));
  if (p.message !== null && p.message !== '') parts.push(truncate(p.message, 48));
  const ranFor = clock.ranForMs(p);
  // A finished job shows how long it took, not how long ago it started.
  parts.push(
    ranFor === undefined ? `${formatDuration(clock.elapsedMs(p))} elapsed` : `took ${formatDuration(ranFor)}`,
  );
  const remaining = clock.remainingMs(p);
  if (remaining !== undefined && remaining > 0) {
    parts.push(
      p.status === 'running' ? `~${formatDuration(remaining)} left` : `~${formatDuration(remaining)} wait`,
    );
  }
  return parts.join(style.dim(' · '));
}

export function createProgressView(out: Output, clock = new ProgressClock()): ProgressView {
  if (out.json) return { update: () => undefined, stop: () => undefined };
  return out.io.isTTY ? new BarView(out, clock) : new LineView(out, clock);
}

/** A redrawn bar for terminals; cli-progress re-renders on its timer, so elapsed keeps ticking. */
class BarView implements ProgressView {
  private readonly bar: SingleBar;
  private current: JobProgress | undefined;
  private started = false;

  constructor(
    out: Output,
    private readonly clock: ProgressClock,
  ) {
    const style = out.style;
    this.bar = new SingleBar({
      stream: out.io.stdout,
      fps: 10,
      barsize: 30,
      format: (_options, params) => {
        const value = Math.max(0, Math.min(1, params.progress));
        const filled = Math.round(value * 30);
        const bar = style.green('█'.repeat(filled)) + style.dim('░'.repeat(30 - filled));
        const pct = `${String(Math.floor(value * 100)).padStart(3)}%`;
        const text = this.current === undefined ? '' : describeProgress(this.current, this.clock, style);
        return `${bar} ${style.bold(pct)} ${text}`;
      },
    });
  }

  update(p: JobProgress): void {
    this.current = p;
    this.clock.observe(p);
    if (!this.started) {
      this.started = true;
      this.bar.start(100, p.progress);
    } else {
      this.bar.update(p.progress);
    }
  }

  stop(): void {
    if (this.started) this.bar.stop();
    this.started = false;
  }
}

/** One line per visible change, for logs and pipes where a redrawn bar would be noise. */
class LineView implements ProgressView {
  private last = '';

  constructor(
    private readonly out: Output,
    private readonly clock: ProgressClock,
  ) {}

  update(p: JobProgress): void {
    this.clock.observe(p);
    const key = [p.status, p.step, Math.floor(p.progress), p.message].join('\u0000');
    if (key === this.last) return;
    this.last = key;
    const pct = `${String(Math.floor(p.progress)).padStart(3)}%`;
    this.out.line(`${pct} ${describeProgress(p, this.clock, this.out.style)}`);
  }

  stop(): void {
    this.last = '';
  }
}

function phase(p: JobProgress): string {
  switch (p.status) {
    case 'running':
      return p.step ?? 'running';
    case 'retrying':
      return p.attempt === undefined ? 'retrying' : `retrying after attempt ${p.attempt}`;
    case 'scheduled':
    case 'waiting':
    case 'queued':
    case 'completed':
    case 'failed':
    case 'cancelled':
      return p.status;
  }
}

function truncate(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, ' ');
  return oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine;
}
