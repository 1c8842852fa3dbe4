import {
  DataRejected,
  type JobRow,
  type JobsRepository,
  type NewJob,
  type OutboxMessage,
} from '@switchyard/persistence';

/** Statements under way at once; submissions arriving meanwhile wait and go together in the next. */
const MAX_CONCURRENT = 2;
/** At most this many jobs in one statement (one submission's jobs are never split). */
const MAX_GROUP_JOBS = 1000;

export interface Inserted {
  rows: JobRow[];
  outboxIds: string[];
}

interface Submission {
  jobs: NewJob[];
  outbox: OutboxMessage[];
  resolve: (inserted: Inserted) => void;
  reject: (error: unknown) => void;
}

/**
 * Inserts submissions' jobs with their outbox rows, grouping the submissions that arrive while
 * earlier statements run into one statement (group commit): under load one round trip and one
 * commit serve many requests; when idle a submission goes alone at once. Each submission stays all
 * or nothing: when a group's statement fails on one submission's data (e.g. a taken idempotency
 * key), every submission of the group is inserted again on its own and gets its own answer.
 */
export class JobInserter {
  private readonly waiting: Submission[] = [];
  private running = 0;

  constructor(private readonly repository: Pick<JobsRepository, 'insertJobs'>) {}

  insert(jobs: NewJob[], outbox: OutboxMessage[]): Promise<Inserted> {
    return new Promise<Inserted>((resolve, reject) => {
      this.waiting.push({ jobs, outbox, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < MAX_CONCURRENT && this.waiting.length) {
      const group: Submission[] = [];
      let size = 0;
      while (this.waiting.length) {
        const next = this.waiting[0];
        if (group.length && size + next.jobs.length > MAX_GROUP_JOBS) break;
        this.waiting.shift();
        group.push(next);
        size += next.jobs.length;
      }
      this.running += 1;
      void this.run(group).finally(() => {
        this.running -= 1;
        this.pump();
      });
    }
  }

  private async run(group: Submission[]): Promise<void> {
    if (group.length === 1) {
      const [only] = group;
      await this.repository.insertJobs(only.jobs, only.outbox).then(only.resolve, only.reject);
      return;
    }
    let inserted: Inserted;
    try {
      inserted = await this.repository.insertJobs(
        group.flatMap((s) => s.jobs),
        group.flatMap((s) => s.outbox),
      );
    } catch (error) {
      if (!(error instanceof DataRejected)) {
        for (const s of group) s.reject(error);
        return;
      }
      // One submission's data failed the whole statement: nothing was written; each on its own.
      await Promise.all(
        group.map((s) => this.repository.insertJobs(s.jobs, s.outbox).then(s.resolve, s.reject)),
      );
      return;
    }
    const byId = new Map(inserted.rows.map((row) => [row.id, row]));
    let offset = 0;
    for (const s of group) {
      const rows: JobRow[] = [];
      for (const job of s.jobs) {
        const row = byId.get(job.id);
        if (row) rows.push(row);
      }
      s.resolve({ rows, outboxIds: inserted.outboxIds.slice(offset, offset + s.outbox.length) });
      offset += s.outbox.length;
    }
  }
}
