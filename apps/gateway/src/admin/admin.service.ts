import { Inject, Injectable } from '@nestjs/common';
import type { ArtifactStore } from '@switchyard/storage';
import { LiveProgressStore } from '@switchyard/live-state';
import { RetentionRepository } from '@switchyard/persistence';
import { ARTIFACT_STORE, LOGGER, type Logger } from '../gateway.tokens';

/** Deleted per statement, so a large purge never holds long locks. */
const PURGE_BATCH = 1000;

@Injectable()
export class AdminService {
  constructor(
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(ARTIFACT_STORE) private readonly artifacts: ArtifactStore,
    private readonly retention: RetentionRepository,
    private readonly live: LiveProgressStore,
  ) {}

  /** Purges terminal jobs older than `olderThanDays` with their events, cache entries, artifacts and live state. */
  async cleanup(olderThanDays: number): Promise<{ deleted: number }> {
    let deleted = 0;
    for (;;) {
      const { jobs: batch } = await this.retention.purgeJobs(olderThanDays, PURGE_BATCH);
      deleted += batch.length;
      await Promise.allSettled([
        ...batch.filter((j) => j.hadArtifact).map((j) => this.artifacts.remove(j.id)),
        ...batch.map((j) => this.live.deleteJob(j.id)),
      ]);
      if (batch.length < PURGE_BATCH) break;
    }
    this.logger.info({ deleted, olderThanDays }, 'admin cleanup purged terminal jobs');
    return { deleted };
  }
}
