import { Counter, type Registry } from 'prom-client';
import type { ArtifactStore, UploadStore } from '@switchyard/storage';
import type { TrackerConfig } from '@switchyard/config';
import { METRIC_PREFIX, type Logger } from '@switchyard/observability';
import type { RetentionRepository } from '@switchyard/persistence';
import { sweepTemporaryFiles } from './temp-files';

export interface RetentionOptions {
  /** JOB_RETENTION_DAYS: terminal jobs, unreferenced uploads and parked events older than this go. */
  retentionDays: number;
  /** CLEANUP_INTERVAL_MS: time between two passes. */
  intervalMs: number;
  /** Rows per statement (default 1000). */
  batchSize?: number;
  /** Pause between two statements of a pass, so a long purge leaves PostgreSQL room (default 10 ms). */
  batchPauseMs?: number;
  /** Temporary (`.part`, `.tmp`) files older than this are removed (default 1 h). */
  tempMaxAgeMs?: number;
  /** First pass after this (default: the interval, at most one minute), so a restart does not skip retention. */
  initialDelayMs?: number;
  /** Folders swept for temporary files (ARTIFACTS_DIR, UPLOADS_DIR). */
  tempDirs: readonly string[];
}

/** The tracker's retention settings as its configuration gives them. */
export function retentionOptions(
  config: Pick<TrackerConfig, 'JOB_RETENTION_DAYS' | 'CLEANUP_INTERVAL_MS' | 'ARTIFACTS_DIR' | 'UPLOADS_DIR'>,
): RetentionOptions {
  return {
    retentionDays: config.JOB_RETENTION_DAYS,
    intervalMs: config.CLEANUP_INTERVAL_MS,
    tempDirs: [config.ARTIFACTS_DIR, config.UPLOADS_DIR],
  };
}

/** What one pass removed. */
export interface RetentionReport {
  jobs: number;
  events: number;
  artifacts: number;
  uploads: number;
  parkedEvents: number;
  /** Flows whose jobs were all purged. */
  flows: number;
  tempFiles: number;
  /** Job statements run (each took at most `batchSize` jobs). */
  batches: number;
}

export type PurgeKind =
  'jobs' | 'events' | 'artifacts' | 'uploads' | 'parked_events' | 'flows' | 'temp_files';

export const RETENTION_PURGED_TOTAL = `${METRIC_PREFIX}retention_purged_total`;

const DEFAULT_BATCH = 1000;
const HOUR_MS = 3_600_000;

/**
 * Retention (SPEC §8, docs/operations.md): every `intervalMs`, the one tracker that wins the
 * cluster-wide advisory lock purges terminal jobs whose `finishedAt` is older than
 * `retentionDays` (completed, cancelled and failed — dead-lettered included), their history,
 * live state and artifacts; uploads no job references; parked events; and stale temporary files.
 * The other trackers skip that pass. Each statement takes a bounded batch.
 */
export class RetentionService {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly purged: Counter<'kind'>;

  constructor(
    private readonly options: RetentionOptions,
    private readonly repository: RetentionRepository,
    private readonly artifacts: Pick<ArtifactStore, 'remove'>,
    private readonly uploads: Pick<UploadStore, 'remove'>,
    private readonly live: { deleteJob(jobId: string): Promise<void> } | null,
    private readonly logger: Logger,
    registry: Registry,
  ) {
    this.purged = new Counter({
      name: RETENTION_PURGED_TOTAL,
      help: 'What retention purged, by kind (jobs, events, artifacts, uploads, parked_events, flows, temp_files)',
      labelNames: ['kind'],
      registers: [registry],
    });
    for (const kind of [
      'jobs',
      'events',
      'artifacts',
      'uploads',
      'parked_events',
      'flows',
      'temp_files',
    ] as const) {
      this.purged.inc({ kind }, 0);
    }
  }

  start(): void {
    this.stopped = false;
    this.schedule(this.options.initialDelayMs ?? Math.min(this.options.intervalMs, 60_000));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass now; null when another process holds the retention lock. */
  runOnce(): Promise<RetentionReport | null> {
    const pass = this.running.then(async () => {
      const outcome = await this.repository.underLock(() => this.purge());
      if (!outcome.ran) {
        this.logger.debug('retention: another process holds the lock; this pass is skipped');
        return null;
      }
      return outcome.value;
    });
    this.running = pass.catch(() => undefined);
    return pass;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const started = Date.now();
      void this.runOnce()
        .catch((error: unknown) =>
          this.logger.warn({ err: error }, 'retention pass failed; next pass as scheduled'),
        )
        // Passes start every intervalMs; one that took longer is followed by the next at once.
        .finally(() => this.schedule(Math.max(0, this.options.intervalMs - (Date.now() - started))));
    }, delayMs);
    this.timer.unref();
  }

  private count(kind: PurgeKind, n: number): void {
    if (n > 0) this.purged.inc({ kind }, n);
  }

  private pause(): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, this.options.batchPauseMs ?? 10));
  }

  /** Runs `purgeBatch` until it purges fewer than a batch (or the service stops); the total purged. */
  private async inBatches(kind: PurgeKind, purgeBatch: () => Promise<number>): Promise<number> {
    const limit = this.options.batchSize ?? DEFAULT_BATCH;
    let total = 0;
    for (;;) {
      const n = await purgeBatch();
      total += n;
      this.count(kind, n);
      if (n < limit || this.stopped) return total;
      await this.pause();
    }
  }

  private async purge(): Promise<RetentionReport> {
    const days = this.options.retentionDays;
    const limit = this.options.batchSize ?? DEFAULT_BATCH;
    const report: RetentionReport = {
      jobs: 0,
      events: 0,
      artifacts: 0,
      uploads: 0,
      parkedEvents: 0,
      flows: 0,
      tempFiles: 0,
      batches: 0,
    };
    for (;;) {
      const batch = await this.repository.purgeJobs(days, limit);
      report.batches++;
      report.jobs += batch.jobs.length;
      report.events += batch.events;
      this.count('jobs', batch.jobs.length);
      this.count('events', batch.events);
      // Every purged job's artifact folder goes (an attempt may have written one without a
      // result URL); those with a result URL are what the artifacts count reports.
      await Promise.all(batch.jobs.map((j) => this.artifacts.remove(j.id)));
      const artifacts = batch.jobs.filter((j) => j.hadArtifact).length;
      report.artifacts += artifacts;
      this.count('artifacts', artifacts);
      if (this.live) {
        const live = this.live;
        await Promise.allSettled(batch.jobs.map((j) => live.deleteJob(j.id)));
      }
      if (batch.jobs.length < limit || this.stopped) break;
      await this.pause();
    }
    report.uploads = await this.inBatches('uploads', async () => {
      const ids = await this.repository.purgeUploads(days, limit);
      await Promise.all(ids.map((id) => this.uploads.remove(id)));
      return ids.length;
    });
    report.parkedEvents = await this.inBatches('parked_events', () =>
      this.repository.purgeParkedEvents(days, limit),
    );
    // After the jobs: a flow goes once retention has taken the last of its jobs.
    report.flows = await this.inBatches('flows', () => this.repository.purgeFlows(days, limit));
    for (const dir of this.options.tempDirs) {
      const n = await sweepTemporaryFiles(dir, this.options.tempMaxAgeMs ?? HOUR_MS);
      report.tempFiles += n;
      this.count('temp_files', n);
    }
    const { batches: _batches, ...purged } = report;
    if (report.jobs + report.uploads + report.parkedEvents + report.flows + report.tempFiles > 0) {
      this.logger.info({ ...purged, retentionDays: days }, 'retention pass purged');
    }
    return report;
  }
}
