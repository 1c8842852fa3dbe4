import { randomUUID } from 'node:crypto';
import { mkdtemp, mkdir, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import { FileArtifactStore, FileUploadStore } from '@switchyard/storage';
import { createLogger } from '@switchyard/observability';
import { createDataSource, RetentionRepository, runMigrations } from '@switchyard/persistence';
import { createTestDatabase, type TestDatabase } from '@switchyard/testing';
import { RETENTION_PURGED_TOTAL, RetentionService, type RetentionOptions } from './retention.service';

const logger = createLogger('retention-test', 'silent');

describe('RetentionService against PostgreSQL', () => {
  let database: TestDatabase;
  let db: DataSource;
  let dir: string;
  let artifactsDir: string;
  let uploadsDir: string;

  beforeAll(async () => {
    database = await createTestDatabase(runMigrations);
    db = createDataSource(database.url, { poolSize: 4 });
    await db.initialize();
  });

  afterAll(async () => {
    await db.destroy();
    await database?.drop();
  });

  beforeEach(async () => {
    await db.query(`TRUNCATE jobs, job_events, files, parked_events, flows CASCADE`);
    dir = await mkdtemp(join(tmpdir(), 'sy-retention-'));
    artifactsDir = join(dir, 'artifacts');
    uploadsDir = join(dir, 'uploads');
    await mkdir(artifactsDir, { recursive: true });
    await mkdir(uploadsDir, { recursive: true });
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * Inserts `count` jobs in `status` whose timestamps lie `ageDays` in the past, each with `events`
   * history rows. Unfinished jobs get an old finished_at too (as a job retried after it failed
   * keeps one), so only their status keeps them from being purged.
   */
  async function insertJobs(
    count: number,
    status: string,
    ageDays: number,
    options: { events?: number; resultUrl?: boolean; payload?: Record<string, unknown> } = {},
  ): Promise<string[]> {
    const rows: { id: string }[] = await db.query(
      `INSERT INTO jobs (id, tenant, type, queue, status, priority, max_attempts, timeout_ms, correlation_id,
          request_hash, payload, created_at, started_at, finished_at, result_url, dead_lettered)
       SELECT gen_random_uuid(), 'acme', 'synthetic', 'default', $2, 5, 3, 60000, 'corr', '', $5::jsonb,
          now() - make_interval(days => $3::int) - interval '1 hour',
          now() - make_interval(days => $3::int) - interval '1 hour',
          now() - make_interval(days => $3::int),
          CASE WHEN $4 THEN 'http://x/artifact' END,
          $2 = 'failed'
       FROM generate_series(1, $1) RETURNING id`,
      [count, status, ageDays, options.resultUrl ?? false, JSON.stringify(options.payload ?? {})],
    );
    const ids = rows.map((r) => r.id);
    const events = options.events ?? 2;
    if (events > 0) {
      await db.query(
        `INSERT INTO job_events (job_id, seq, event, status, progress, attempt, correlation_id, created_at)
         SELECT j, s, 'progress', 'running', s, 1, 'corr', now() - make_interval(days => $3::int)
         FROM unnest($1::uuid[]) AS j, generate_series(1, $2) AS s`,
        [ids, events, ageDays],
      );
    }
    return ids;
  }

  const count = async (sql: string, params: unknown[] = []) => {
    const rows: { n: string }[] = await db.query(sql, params);
    return Number(rows[0].n);
  };

  function service(
    dataSource: DataSource,
    registry: Registry,
    options: Partial<RetentionOptions> = {},
    repository = new RetentionRepository(dataSource),
  ): RetentionService {
    return new RetentionService(
      { retentionDays: 7, intervalMs: 3_600_000, tempDirs: [artifactsDir, uploadsDir], ...options },
      repository,
      new FileArtifactStore(artifactsDir),
      new FileUploadStore(uploadsDir),
      null,
      logger,
      registry,
    );
  }

  async function purgedMetric(registry: Registry, kind: string): Promise<number> {
    const metric = await registry.getSingleMetric(RETENTION_PURGED_TOTAL)?.get();
    return metric?.values.find((v) => v.labels['kind'] === kind)?.value ?? 0;
  }

  const exists = (path: string) =>
    stat(path).then(
      () => true,
      () => false,
    );

  it('purges old terminal jobs with their history and artifacts, and leaves young and unfinished jobs alone', async () => {
    const oldCompleted = await insertJobs(3, 'completed', 8, { resultUrl: true });
    const oldFailed = await insertJobs(2, 'failed', 30); // dead-lettered: in GET /dlq until purged
    const oldCancelled = await insertJobs(1, 'cancelled', 8);
    const young = await insertJobs(2, 'completed', 6, { resultUrl: true });
    const running = await insertJobs(2, 'running', 60);
    const queued = await insertJobs(1, 'queued', 60);
    const retrying = await insertJobs(1, 'retrying', 60);
    const artifacts = new FileArtifactStore(artifactsDir);
    for (const id of [...oldCompleted, ...young])
      await artifacts.writerFor(id).put('out.json', 'application/json', Buffer.from('{}'));
    const old = [...oldCompleted, ...oldFailed, ...oldCancelled];

    const registry = new Registry();
    const report = await service(db, registry).runOnce();

    expect(report).toMatchObject({ jobs: 6, events: 12, artifacts: 3 });
    expect(await count(`SELECT count(*) AS n FROM jobs WHERE id = ANY($1::uuid[])`, [old])).toBe(0);
    expect(await count(`SELECT count(*) AS n FROM job_events WHERE job_id = ANY($1::uuid[])`, [old])).toBe(0);
    for (const id of oldCompleted) expect(await exists(join(artifactsDir, id))).toBe(false);
    const kept = [...young, ...running, ...queued, ...retrying];
    expect(await count(`SELECT count(*) AS n FROM jobs WHERE id = ANY($1::uuid[])`, [kept])).toBe(
      kept.length,
    );
    expect(await count(`SELECT count(*) AS n FROM job_events WHERE job_id = ANY($1::uuid[])`, [kept])).toBe(
      kept.length * 2,
    );
    for (const id of young) expect(await exists(join(artifactsDir, id, 'data'))).toBe(true);
    expect(await purgedMetric(registry, 'jobs')).toBe(6);
    expect(await purgedMetric(registry, 'events')).toBe(12);
    expect(await purgedMetric(registry, 'artifacts')).toBe(3);
  });

  it('purges old uploads that no job references, with their bytes', async () => {
    const uploads = new FileUploadStore(uploadsDir);
    const [orphan, referenced, young] = [randomUUID(), randomUUID(), randomUUID()];
    for (const [id, age] of [
      [orphan, 9],
      [referenced, 9],
      [young, 1],
    ] as const) {
      await db.query(
        `INSERT INTO files (id, tenant, content_type, size, sha256, created_at)
         VALUES ($1, 'acme', 'audio/wav', 1, 'x', now() - make_interval(days => $2::int))`,
        [id, age],
      );
      await writeFile(uploads.pathOf(id), 'x');
    }
    await insertJobs(1, 'running', 9, { payload: { fileId: referenced } });

    const registry = new Registry();
    const report = await service(db, registry).runOnce();

    expect(report?.uploads).toBe(1);
    const left: { id: string }[] = await db.query(`SELECT id FROM files ORDER BY id`);
    expect(left.map((r) => r.id).sort()).toEqual([referenced, young].sort());
    expect(await exists(uploads.pathOf(orphan))).toBe(false);
    expect(await exists(uploads.pathOf(referenced))).toBe(true);
    expect(await exists(uploads.pathOf(young))).toBe(true);
    expect(await purgedMetric(registry, 'uploads')).toBe(1);
  });

  it('purges in statements of at most batchSize jobs', async () => {
    await insertJobs(10, 'completed', 8, { events: 1 });
    const repository = new RetentionRepository(db);
    const sizes: number[] = [];
    const purgeJobs = repository.purgeJobs.bind(repository);
    repository.purgeJobs = async (days, limit) => {
      const batch = await purgeJobs(days, limit);
      sizes.push(batch.jobs.length);
      return batch;
    };

    const report = await service(db, new Registry(), { batchSize: 3, batchPauseMs: 0 }, repository).runOnce();

    expect(sizes).toEqual([3, 3, 3, 1]);
    expect(report).toMatchObject({ jobs: 10, events: 10, batches: 4 });
    expect(await count(`SELECT count(*) AS n FROM jobs`)).toBe(0);
  });

  it('two services at once, each with its own pool, purge each old row once', async () => {
    const old = 250;
    await insertJobs(old, 'completed', 8, { events: 1 });
    await insertJobs(5, 'running', 30, { events: 1 });
    const other = createDataSource(database.url, { poolSize: 4 });
    await other.initialize();
    try {
      const registries = [new Registry(), new Registry()];
      const services = [
        service(db, registries[0], { batchSize: 20, batchPauseMs: 1 }),
        service(other, registries[1], { batchSize: 20, batchPauseMs: 1 }),
      ];
      // Several rounds of simultaneous passes: whichever wins the lock purges, the other skips.
      let skipped = 0;
      for (let round = 0; round < 3; round++) {
        const reports = await Promise.all(services.map((s) => s.runOnce()));
        skipped += reports.filter((r) => r === null).length;
      }
      const purged =
        (await purgedMetric(registries[0], 'jobs')) + (await purgedMetric(registries[1], 'jobs'));
      expect(purged).toBe(old);
      expect(
        (await purgedMetric(registries[0], 'events')) + (await purgedMetric(registries[1], 'events')),
      ).toBe(old);
      expect(skipped).toBeGreaterThan(0);
      expect(await count(`SELECT count(*) AS n FROM jobs`)).toBe(5);
    } finally {
      await other.destroy();
    }
  });

  it('two purges racing without the lock still delete each row once (SKIP LOCKED)', async () => {
    const old = 300;
    await insertJobs(old, 'completed', 8, { events: 1 });
    const other = createDataSource(database.url, { poolSize: 4 });
    await other.initialize();
    try {
      const drain = async (repository: RetentionRepository) => {
        let total = 0;
        for (;;) {
          const { jobs } = await repository.purgeJobs(7, 7);
          total += jobs.length;
          if (jobs.length === 0) return total;
        }
      };
      const totals = await Promise.all([
        drain(new RetentionRepository(db)),
        drain(new RetentionRepository(other)),
        drain(new RetentionRepository(other)),
      ]);
      expect(totals.reduce((a, b) => a + b, 0)).toBe(old);
      expect(await count(`SELECT count(*) AS n FROM jobs`)).toBe(0);
    } finally {
      await other.destroy();
    }
  });

  it('holds the lock for one process at a time: a pass while another holds it does nothing', async () => {
    await insertJobs(4, 'completed', 8);
    const holder = new RetentionRepository(db);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const holding = holder.underLock(async () => {
      entered();
      await held;
    });
    await inside;
    const other = createDataSource(database.url, { poolSize: 2 });
    await other.initialize();
    try {
      expect(await service(other, new Registry()).runOnce()).toBeNull();
      expect(await count(`SELECT count(*) AS n FROM jobs`)).toBe(4);
      release();
      await holding;
      expect((await service(other, new Registry()).runOnce())?.jobs).toBe(4);
    } finally {
      await other.destroy();
    }
  });

  it('removes temporary files older than an hour from the artifacts and uploads folders, and only those', async () => {
    const jobDir = join(artifactsDir, randomUUID());
    await mkdir(jobDir);
    const oldPart = join(uploadsDir, `.${randomUUID()}.${randomUUID()}.part`);
    const freshPart = join(uploadsDir, `.${randomUUID()}.${randomUUID()}.part`);
    const oldTmp = join(jobDir, 'data.tmp');
    const oldUpload = join(uploadsDir, randomUUID());
    const oldData = join(jobDir, 'data');
    for (const path of [oldPart, freshPart, oldTmp, oldUpload, oldData]) await writeFile(path, 'x');
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    for (const path of [oldPart, oldTmp, oldUpload, oldData]) await utimes(path, twoHoursAgo, twoHoursAgo);

    const registry = new Registry();
    const report = await service(db, registry).runOnce();

    expect(report?.tempFiles).toBe(2);
    expect((await readdir(uploadsDir)).sort()).toEqual(
      [freshPart, oldUpload].map((p) => p.slice(uploadsDir.length + 1)).sort(),
    );
    expect(await readdir(jobDir)).toEqual(['data']);
    expect(await purgedMetric(registry, 'temp_files')).toBe(2);
  });

  it('purges parked events older than the retention', async () => {
    await db.query(
      `INSERT INTO parked_events (event, body, error, attempts, parked_at)
       VALUES ('progress', '{}', 'bad', 3, now() - interval '8 days'), ('progress', '{}', 'bad', 3, now())`,
    );
    const report = await service(db, new Registry()).runOnce();
    expect(report?.parkedEvents).toBe(1);
    expect(await count(`SELECT count(*) AS n FROM parked_events`)).toBe(1);
  });

  it('purges an old flow once retention has taken the last of its jobs, and no other', async () => {
    const flow = async (ageDays: number) => {
      const [{ id }]: { id: string }[] = await db.query(
        `INSERT INTO flows (id, tenant, correlation_id, created_at)
         VALUES (gen_random_uuid(), 'acme', 'corr', now() - make_interval(days => $1::int)) RETURNING id`,
        [ageDays],
      );
      return id;
    };
    const finished = await flow(9);
    const stillRunning = await flow(9);
    const fresh = await flow(0);
    const join = (flowId: string, ids: string[]) =>
      db.query(`UPDATE jobs SET flow_id = $1 WHERE id = ANY($2::uuid[])`, [flowId, ids]);
    await join(finished, await insertJobs(2, 'completed', 8));
    await join(stillRunning, [
      ...(await insertJobs(1, 'completed', 8)),
      ...(await insertJobs(1, 'running', 8)),
    ]);
    await join(fresh, await insertJobs(1, 'completed', 8));
    const registry = new Registry();

    const report = await service(db, registry).runOnce();

    expect(report?.jobs).toBe(4);
    expect(report?.flows).toBe(1);
    const rows: { id: string }[] = await db.query(`SELECT id FROM flows`);
    expect(rows.map((r) => r.id).sort()).toEqual([stillRunning, fresh].sort());
    expect(await purgedMetric(registry, 'flows')).toBe(1);
  });

  it('uses the retention in days it is given', async () => {
    await insertJobs(2, 'completed', 3);
    expect((await service(db, new Registry(), { retentionDays: 7 }).runOnce())?.jobs).toBe(0);
    expect((await service(db, new Registry(), { retentionDays: 2 }).runOnce())?.jobs).toBe(2);
  });
});
