import { IdempotencyKeyTaken, type JobRow, type NewJob, type OutboxMessage } from '@switchyard/persistence';
import { JobInserter, type Inserted } from './job-inserter';

const job = (id: string, key: string | null = null) => ({ id, idempotencyKey: key }) as NewJob;
const messagesOf = (jobs: NewJob[]) =>
  jobs.flatMap((j) => [
    { jobId: j.id, name: 'switchyard.job.dispatch' },
    { jobId: j.id, name: 'switchyard.job.queued' },
  ]) as OutboxMessage[];

/** A repository whose statements wait until released, failing on a taken key like JobsRepository. */
function fakeRepository(takenKeys: string[] = []) {
  const statements: string[][] = [];
  const release: (() => void)[] = [];
  let nextOutboxId = 1;
  const insertJobs = (jobs: NewJob[], outbox: OutboxMessage[]): Promise<Inserted> => {
    statements.push(jobs.map((j) => j.id));
    return new Promise<Inserted>((resolve, reject) => {
      release.push(() => {
        if (jobs.some((j) => j.idempotencyKey !== null && takenKeys.includes(j.idempotencyKey))) {
          reject(new IdempotencyKeyTaken('duplicate key'));
          return;
        }
        resolve({
          rows: [...jobs].reverse().map((j) => ({ id: j.id }) as JobRow),
          outboxIds: outbox.map(() => String(nextOutboxId++)),
        });
      });
    });
  };
  const releaseAll = async () => {
    while (release.length) {
      for (const r of release.splice(0)) r();
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  return { repository: { insertJobs }, statements, releaseAll };
}

describe('JobInserter', () => {
  it('sends a submission at once when idle, and groups those arriving meanwhile into one statement', async () => {
    const fake = fakeRepository();
    const inserter = new JobInserter(fake.repository);
    const submissions = [[job('a')], [job('b')], [job('c'), job('d')], [job('e')]];
    const results = submissions.map((jobs) => inserter.insert(jobs, messagesOf(jobs)));
    expect(fake.statements).toEqual([['a'], ['b']]); // two under way, the rest wait
    await fake.releaseAll();
    expect(fake.statements).toEqual([['a'], ['b'], ['c', 'd', 'e']]);
    const [, , grouped, last] = await Promise.all(results);
    // Each submission gets its own rows and its own outbox ids, in the order of its messages.
    expect(grouped.rows.map((r) => r.id)).toEqual(['c', 'd']);
    expect(grouped.outboxIds).toEqual(['5', '6', '7', '8']);
    expect(last.rows.map((r) => r.id)).toEqual(['e']);
    expect(last.outboxIds).toEqual(['9', '10']);
  });

  it('inserts every submission of a group on its own when one of them fails the statement', async () => {
    const fake = fakeRepository(['taken']);
    const inserter = new JobInserter(fake.repository);
    const busy = [inserter.insert([job('a')], []), inserter.insert([job('b')], [])];
    const good = inserter.insert([job('c')], messagesOf([job('c')]));
    const bad = inserter.insert([job('d', 'taken')], messagesOf([job('d')]));
    bad.catch(() => undefined);
    await fake.releaseAll();
    await Promise.all(busy);
    expect((await good).rows.map((r) => r.id)).toEqual(['c']);
    await expect(bad).rejects.toBeInstanceOf(IdempotencyKeyTaken);
    expect(fake.statements.slice(2)).toEqual([['c', 'd'], ['c'], ['d']]);
  });

  it('fails the whole group with the error when the database itself fails', async () => {
    const inserter = new JobInserter({
      insertJobs: () => Promise.reject(new Error('connection terminated')),
    });
    const results = [1, 2, 3].map((i) => inserter.insert([job(String(i))], []));
    for (const r of results) await expect(r).rejects.toThrow('connection terminated');
  });
});
