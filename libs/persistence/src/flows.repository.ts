import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { isUuid } from '@switchyard/contracts';
import { translated } from './errors';
import type { JobRow } from './job-row';
import { JobsRepository, type NewJob } from './jobs.repository';
import {
  cancelOutboxMessage,
  eventOutboxMessage,
  jobEventFromRow,
  queuedEventFromRow,
  type OutboxMessage,
  type OutboxRecord,
} from './job-messages';
import { notifyDispatchIn, recordOutbox } from './outbox-rows';

/** A `flows` row as node-postgres returns it. */
export interface FlowRow {
  id: string;
  tenant: string;
  name: string | null;
  metadata: Record<string, unknown>;
  idempotency_key: string | null;
  request_hash: string;
  correlation_id: string;
  cancelled_at: Date | null;
  created_at: Date;
}

export interface NewFlow {
  id: string;
  tenant: string;
  name: string | null;
  metadata: Record<string, unknown>;
  idempotencyKey: string | null;
  /** Fingerprint of the whole request: the same key with another request is a conflict. */
  requestHash: string;
  correlationId: string;
}

/** An edge: `jobId` waits for `dependsOn`. */
export interface FlowEdge {
  jobId: string;
  dependsOn: string;
}

/** A flow's jobs per state, their number, and when the last one finished. */
export interface FlowTally {
  counts: Record<string, number>;
  total: number;
  lastFinishedAt: Date | null;
}

/** A member as a flow view lists it: the job row plus the refs it depends on. */
export type FlowMemberRow = JobRow & { depends_on_refs: string[] };

/** One upstream job as a dependant's handler sees it. */
export interface DependencyRow {
  id: string;
  ref: string | null;
  type: string;
  status: JobRow['status'];
  result: unknown;
  result_url: string | null;
}

export type FlowCancelOutcome =
  | { kind: 'not_found' }
  | { kind: 'cancelled'; flow: FlowRow; cancelled: number; cancelRequested: number; outbox: OutboxRecord[] };

export type FlowRetryOutcome =
  | { kind: 'not_found' }
  | { kind: 'not_retryable'; flow: FlowRow }
  | { kind: 'retried'; flow: FlowRow; retried: number; queues: string[]; outbox: OutboxRecord[] };

/** The spawned children of a job, new or found from an earlier run of its handler. */
export interface SpawnOutcome {
  flowId: string;
  children: string[];
  continuation: string | null;
  /** False when an earlier run had spawned them already (nothing was inserted). */
  created: boolean;
  queues: string[];
  outbox: OutboxRecord[];
}

/** The flow of a spawning job that was cancelled meanwhile: no children are created. */
export class FlowCancelled extends Error {}

const at = (tenant: string | undefined) => (tenant === undefined ? null : tenant);

export class FlowListCursorError extends Error {}

function encodeFlowCursor(row: Pick<FlowRow, 'created_at' | 'id'>): string {
  return Buffer.from(`${row.created_at.toISOString()}|${row.id}`).toString('base64url');
}

function decodeFlowCursor(cursor: string): { createdAt: Date; id: string } {
  const [when, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(when ?? '');
  if (cursor.length > 200 || !id || Number.isNaN(createdAt.getTime()) || !isUuid(id)) {
    throw new FlowListCursorError('cursor is not one this API returned');
  }
  return { createdAt, id };
}

/**
 * Flows (SPEC §11): creation in one transaction, the members and tallies the views need, cancel
 * and retry of a whole flow, the children a handler spawns, and the dependencies a handler reads.
 * Settling dependants when a job finishes is flow-dependants.ts's, inside each terminal transition.
 */
export class FlowsRepository {
  private readonly jobs: JobsRepository;

  constructor(
    private readonly db: DataSource,
    /** The service named as the source of the events this repository writes. */
    private readonly service: string,
  ) {
    this.jobs = new JobsRepository(db, service);
  }

  /**
   * Inserts the flow, its jobs (multi-row, with `outbox`: the `job.queued` events of the jobs
   * queued now) and its edges in one transaction: all or nothing. Throws FlowIdempotencyKeyTaken
   * when the tenant's key names a flow already, IdempotencyKeyTaken for a job's key.
   */
  async create(
    flow: NewFlow,
    jobs: NewJob[],
    edges: FlowEdge[],
    outbox: OutboxMessage[],
  ): Promise<{ flow: FlowRow; rows: JobRow[]; outbox: OutboxRecord[] }> {
    return translated(() =>
      this.db.transaction(async (m) => {
        const [stored] = await m.query<FlowRow[]>(
          `INSERT INTO flows (id, tenant, name, metadata, idempotency_key, request_hash, correlation_id)
           VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7) RETURNING *`,
          [
            flow.id,
            flow.tenant,
            flow.name,
            JSON.stringify(flow.metadata),
            flow.idempotencyKey,
            flow.requestHash,
            flow.correlationId,
          ],
        );
        const { rows, outboxIds } = await this.jobs.insertJobs(jobs, outbox, m);
        await insertEdges(m, edges);
        return {
          flow: stored,
          rows,
          outbox: outbox.map((message, i) => ({ ...message, id: outboxIds[i] ?? '' })),
        };
      }),
    );
  }

  async find(id: string, tenant?: string): Promise<FlowRow | null> {
    if (!isUuid(id)) return null;
    const rows: FlowRow[] = await this.db.query(
      `SELECT * FROM flows WHERE id = $1 AND ($2::text IS NULL OR tenant = $2)`,
      [id, at(tenant)],
    );
    return rows[0] ?? null;
  }

  async findByIdempotencyKey(tenant: string, key: string): Promise<FlowRow | null> {
    const rows: FlowRow[] = await this.db.query(
      `SELECT * FROM flows WHERE tenant = $1 AND idempotency_key = $2`,
      [tenant, key],
    );
    return rows[0] ?? null;
  }

  /** Frees a key older than its time to live, so a new flow may take it. */
  async releaseIdempotencyKey(flowId: string): Promise<void> {
    await this.db.query(`UPDATE flows SET idempotency_key = NULL WHERE id = $1`, [flowId]);
  }

  /** The flow's jobs (at most `limit`), oldest first, each with the refs it depends on. */
  async members(flowId: string, limit: number): Promise<FlowMemberRow[]> {
    return this.db.query(
      `SELECT j.*, coalesce((SELECT array_agg(d.ref ORDER BY d.ref) FROM job_dependencies e
                              JOIN jobs d ON d.id = e.depends_on WHERE e.job_id = j.id), '{}') AS depends_on_refs
       FROM jobs j WHERE j.flow_id = $1 ORDER BY j.created_at, j.spawn_index NULLS FIRST, j.id LIMIT $2`,
      [flowId, limit],
    );
  }

  /** Jobs per state of each flow. */
  async tallies(flowIds: readonly string[]): Promise<Map<string, FlowTally>> {
    const tallies = new Map<string, FlowTally>(
      flowIds.map((id) => [id, { counts: {}, total: 0, lastFinishedAt: null }]),
    );
    if (!flowIds.length) return tallies;
    const rows: { flow_id: string; status: string; n: string; last: Date | null }[] = await this.db.query(
      `SELECT flow_id, status, count(*) AS n, max(finished_at) AS last FROM jobs
       WHERE flow_id = ANY($1::uuid[]) GROUP BY flow_id, status`,
      [[...flowIds]],
    );
    for (const row of rows) {
      const tally = tallies.get(row.flow_id);
      if (!tally) continue;
      tally.counts[row.status] = Number(row.n);
      tally.total += Number(row.n);
      if (row.last && (!tally.lastFinishedAt || row.last > tally.lastFinishedAt))
        tally.lastFinishedAt = row.last;
    }
    return tallies;
  }

  async list(query: {
    tenant?: string;
    limit: number;
    cursor?: string;
  }): Promise<{ rows: FlowRow[]; nextCursor: string | null }> {
    const after = query.cursor === undefined ? null : decodeFlowCursor(query.cursor);
    const rows: FlowRow[] = await this.db.query(
      `SELECT * FROM flows WHERE ($1::text IS NULL OR tenant = $1)
         AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
       ORDER BY created_at DESC, id DESC LIMIT $4`,
      [at(query.tenant), after?.createdAt ?? null, after?.id ?? null, query.limit + 1],
    );
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return { rows: page, nextCursor: rows.length > query.limit && last ? encodeFlowCursor(last) : null };
  }

  /**
   * Cancels every unfinished job of the flow in one transaction: waiting, scheduled, queued and
   * retrying ones at once, running ones through the normal cancel path (cancel requested, the
   * command broadcast to the workers). Later spawns into the flow are refused.
   */
  async cancel(flowId: string, tenant?: string): Promise<FlowCancelOutcome> {
    if (!isUuid(flowId)) return { kind: 'not_found' };
    return this.db.transaction(async (m) => {
      const [[flow]] = await m.query<[FlowRow[], number]>(
        `UPDATE flows SET cancelled_at = coalesce(cancelled_at, now())
         WHERE id = $1 AND ($2::text IS NULL OR tenant = $2) RETURNING *`,
        [flowId, at(tenant)],
      );
      if (!flow) return { kind: 'not_found' };
      const [cancelled] = await m.query<[JobRow[], number]>(
        `UPDATE jobs SET status = 'cancelled', cancel_requested = true, finished_at = now(),
            next_attempt_at = NULL, event_seq = event_seq + 1, progress_seq = event_seq + 1
         WHERE id IN (SELECT id FROM jobs WHERE flow_id = $1
                        AND status IN ('scheduled', 'waiting', 'queued', 'retrying') ORDER BY id FOR NO KEY UPDATE)
           AND status IN ('scheduled', 'waiting', 'queued', 'retrying')
         RETURNING *`,
        [flowId],
      );
      const [running] = await m.query<[JobRow[], number]>(
        `UPDATE jobs SET cancel_requested = true
         WHERE id IN (SELECT id FROM jobs WHERE flow_id = $1 AND status = 'running' ORDER BY id FOR NO KEY UPDATE)
           AND status = 'running'
         RETURNING *`,
        [flowId],
      );
      const outbox = await recordOutbox(m, [
        ...cancelled.map((row) => eventOutboxMessage(jobEventFromRow(this.service, 'cancelled', row))),
        ...running.map((row) => cancelOutboxMessage(row)),
      ]);
      return {
        kind: 'cancelled',
        flow,
        cancelled: cancelled.length,
        cancelRequested: running.length,
        outbox,
      };
    });
  }

  /**
   * Runs the flow's failed and cancelled jobs again, with everything downstream of them (their
   * dependants, transitively) that is not under way: attempts reset, each `queued` when its
   * dependencies are all completed (and not re-run themselves), else `waiting`. Completed jobs
   * upstream keep their results and do not run again. Attempt numbers continue (a handler sees
   * `ctx.attempt` grow) and each re-run job gets its budget of attempts again.
   */
  async retry(flowId: string, tenant?: string): Promise<FlowRetryOutcome> {
    if (!isUuid(flowId)) return { kind: 'not_found' };
    return this.db.transaction(async (m) => {
      const [flow] = await m.query<FlowRow[]>(
        `SELECT * FROM flows WHERE id = $1 AND ($2::text IS NULL OR tenant = $2) FOR UPDATE`,
        [flowId, at(tenant)],
      );
      if (!flow) return { kind: 'not_found' };
      const again: { id: string }[] = await m.query(
        `WITH RECURSIVE down(id) AS (
           SELECT id FROM jobs WHERE flow_id = $1 AND status IN ('failed', 'cancelled')
           UNION
           SELECT e.job_id FROM job_dependencies e JOIN down ON e.depends_on = down.id
         )
         SELECT j.id FROM jobs j JOIN down ON down.id = j.id
         WHERE j.status IN ('failed', 'cancelled', 'completed', 'waiting')
         ORDER BY j.id FOR NO KEY UPDATE OF j`,
        [flowId],
      );
      if (!again.length) return { kind: 'not_retryable', flow };
      const ids = again.map((r) => r.id);
      await m.query(`UPDATE flows SET cancelled_at = NULL WHERE id = $1`, [flowId]);
      // An edge holds its job back again unless its upstream completed and is not re-run.
      await m.query(
        `UPDATE job_dependencies e SET resolved = (d.status = 'completed' AND NOT d.id = ANY($1::uuid[]))
         FROM jobs d WHERE e.job_id = ANY($1::uuid[]) AND d.id = e.depends_on`,
        [ids],
      );
      const [rows] = await m.query<[JobRow[], number]>(
        `UPDATE jobs j SET status = CASE WHEN p.n > 0 THEN 'waiting' ELSE 'queued' END, pending_deps = p.n,
            -- Attempt numbers continue; the job gets its per-run budget of attempts again.
            max_attempts = j.attempts + (j.max_attempts - j.attempts_base), attempts_base = j.attempts,
            error = NULL, result = NULL, result_url = NULL, dead_lettered = false,
            cancel_requested = false, started_at = NULL, finished_at = NULL, next_attempt_at = NULL,
            step = NULL, progress = 0, message = NULL, event_seq = j.event_seq + 1,
            progress_seq = j.event_seq + 1, dispatched_at = NULL, lease_owner = NULL, lease_expires_at = NULL
         FROM (SELECT s.id, (SELECT count(*) FROM job_dependencies e WHERE e.job_id = s.id AND NOT e.resolved)::int AS n
               FROM unnest($1::uuid[]) AS s(id)) p
         WHERE j.id = p.id
         RETURNING j.*`,
        [ids],
      );
      const { queues, outbox } = await this.queued(m, rows);
      return { kind: 'retried', flow, retried: rows.length, queues, outbox };
    });
  }

  /** The jobs `jobId` depends on, with their results (what its handler reads as ctx.dependencies). */
  async dependenciesOf(jobId: string): Promise<DependencyRow[]> {
    return this.db.query(
      `SELECT d.id, d.ref, d.type, d.status, d.result, d.result_url FROM job_dependencies e
       JOIN jobs d ON d.id = e.depends_on WHERE e.job_id = $1 ORDER BY d.ref, d.id`,
      [jobId],
    );
  }

  /**
   * Creates the children a running job's handler spawned, and the optional continuation that
   * depends on all of them, in one transaction. Idempotent: children are keyed by (spawning job,
   * index), so when an earlier run of the handler (a worker killed after spawning) created them,
   * they are returned and nothing is inserted. A job outside any flow starts one (its ref `root`).
   */
  async spawn(
    parentId: string,
    children: Omit<NewJob, 'flowId' | 'spawnedBy' | 'spawnIndex' | 'pendingDeps'>[],
    continuation: Omit<NewJob, 'flowId' | 'spawnedBy' | 'spawnIndex' | 'pendingDeps'> | null,
  ): Promise<SpawnOutcome> {
    return translated(() =>
      this.db.transaction(async (m) => {
        const [parent] = await m.query<JobRow[]>(`SELECT * FROM jobs WHERE id = $1 FOR NO KEY UPDATE`, [
          parentId,
        ]);
        if (!parent) throw new Error(`spawning job ${parentId} not found`);
        const flowId = parent.flow_id ?? (await this.adoptIntoFlow(m, parent));
        const [flow] = await m.query<FlowRow[]>(`SELECT * FROM flows WHERE id = $1`, [flowId]);
        if (flow?.cancelled_at) throw new FlowCancelled(`flow ${flowId} was cancelled`);
        const existing: { id: string; spawn_index: number; pending_deps: number }[] = await m.query(
          `SELECT id, spawn_index, pending_deps FROM jobs WHERE spawned_by = $1 ORDER BY spawn_index`,
          [parentId],
        );
        if (existing.length) {
          const found = existing.filter((r) => r.spawn_index < children.length).map((r) => r.id);
          const cont = existing.find((r) => r.spawn_index === children.length);
          return {
            flowId,
            children: found,
            continuation: cont?.id ?? null,
            created: false,
            queues: [],
            outbox: [],
          };
        }
        const common = { flowId, spawnedBy: parentId };
        const jobs: NewJob[] = children.map((child, index) => ({ ...child, ...common, spawnIndex: index }));
        if (continuation) {
          jobs.push({
            ...continuation,
            ...common,
            spawnIndex: children.length,
            pendingDeps: children.length,
          });
        }
        const { rows } = await this.jobs.insertJobs(jobs, [], m);
        const contId = continuation ? (jobs[jobs.length - 1]?.id ?? null) : null;
        const childIds = jobs.slice(0, children.length).map((j) => j.id);
        if (contId)
          await insertEdges(
            m,
            childIds.map((dependsOn) => ({ jobId: contId, dependsOn })),
          );
        const { queues, outbox } = await this.queued(m, rows);
        return { flowId, children: childIds, continuation: contId, created: true, queues, outbox };
      }),
    );
  }

  /** The `job.queued` events of the rows that are `queued` now, and their queues' dispatchers notified. */
  private async queued(
    m: EntityManager,
    rows: readonly JobRow[],
  ): Promise<{ queues: string[]; outbox: OutboxRecord[] }> {
    const queued = rows.filter((r) => r.status === 'queued');
    const queues = [...new Set(queued.map((r) => r.queue))];
    await notifyDispatchIn(m, queues);
    const messages = queued.map((row) => eventOutboxMessage(queuedEventFromRow(this.service, row)));
    return { queues, outbox: await recordOutbox(m, messages) };
  }

  /** Starts a flow for a job that spawns outside any flow: it becomes the flow's `root`. */
  private async adoptIntoFlow(m: EntityManager, parent: JobRow): Promise<string> {
    const id = randomUUID();
    await m.query(
      `INSERT INTO flows (id, tenant, name, metadata, correlation_id) VALUES ($1, $2, $3, '{}'::jsonb, $4)`,
      [id, parent.tenant, parent.type, parent.correlation_id],
    );
    await m.query(`UPDATE jobs SET flow_id = $2, ref = coalesce(ref, 'root') WHERE id = $1`, [parent.id, id]);
    return id;
  }
}

async function insertEdges(m: EntityManager, edges: readonly FlowEdge[]): Promise<void> {
  if (!edges.length) return;
  await m.query(
    `INSERT INTO job_dependencies (job_id, depends_on)
     SELECT * FROM unnest($1::uuid[], $2::uuid[]) ON CONFLICT DO NOTHING`,
    [edges.map((e) => e.jobId), edges.map((e) => e.dependsOn)],
  );
}

export { encodeFlowCursor };
