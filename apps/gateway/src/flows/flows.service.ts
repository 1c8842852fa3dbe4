import { createHash, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import {
  ApiError,
  FLOW_VIEW_JOBS_MAX,
  isTerminal,
  type FlowActionResult,
  type FlowJobView,
  type FlowStatus,
  type FlowSummary,
  type FlowView,
  type SubmittedFlow,
} from '@switchyard/contracts';
import { correlation } from '@switchyard/observability';
import {
  FlowIdempotencyKeyTaken,
  FlowListCursorError,
  FlowsRepository,
  IdempotencyKeyTaken,
  type FlowEdge,
  type FlowMemberRow,
  type FlowRow,
  type FlowTally,
  type NewJob,
  type OutboxMessage,
  queuedEventOf,
} from '@switchyard/persistence';
import { tenantScope, type Caller } from '../auth/caller';
import { Dispatcher } from '../dispatch/dispatcher';
import { EventsService } from '../events/events.service';
import { GATEWAY_CONFIG, LOGGER, SERVICE_NAME, type GatewayConfig, type Logger } from '../gateway.tokens';
import { JobTypeCatalog, typesIn } from '../job-types/job-type.catalog';
import { JobsService, newJobOf } from '../jobs/jobs.service';
import { OutboxPublisher } from '../jobs/outbox.publisher';
import { SubmissionLimits } from '../jobs/submission.limits';
import { SubmissionService } from '../jobs/submission.service';
import { canonicalJson, SubmissionValidator } from '../jobs/submission.validator';
import { dependencyOrder, validateFlow, type ValidFlow } from './flow.validator';

/** A flow's status from its jobs' states: running while any is unfinished, then the worst outcome. */
export function flowStatusOf(tally: FlowTally): FlowStatus {
  const counts = tally.counts;
  const unfinished = Object.entries(counts).some(([status, n]) => n > 0 && !isTerminal(status as never));
  if (unfinished) return 'running';
  if ((counts['failed'] ?? 0) > 0) return 'failed';
  if ((counts['cancelled'] ?? 0) > 0) return 'cancelled';
  return 'completed';
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/**
 * Flows (SPEC §11): creation (validated as a whole, one transaction, Idempotency-Key for the
 * flow), views, lists, cancel, retry and the flow's event stream. Every job of a flow is an
 * ordinary job; dependants are settled by the persistence layer inside each terminal transition.
 */
@Injectable()
export class FlowsService {
  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly flows: FlowsRepository,
    private readonly validator: SubmissionValidator,
    private readonly catalog: JobTypeCatalog,
    private readonly submissions: SubmissionService,
    private readonly limits: SubmissionLimits,
    private readonly jobs: JobsService,
    private readonly outbox: OutboxPublisher,
    private readonly dispatcher: Dispatcher,
    private readonly events: EventsService,
  ) {}

  async create(
    caller: Caller,
    body: unknown,
    idempotencyKey: string | undefined,
  ): Promise<{ status: 200 | 202; flow: SubmittedFlow }> {
    const tenant = caller.tenant;
    if (idempotencyKey !== undefined && (idempotencyKey.length < 1 || idempotencyKey.length > 200)) {
      throw new ApiError('validation_failed', 'invalid Idempotency-Key', [
        { field: 'Idempotency-Key', message: 'must be 1 to 200 characters' },
      ]);
    }
    const fingerprint = createHash('sha256').update(canonicalJson(body)).digest('hex');
    if (idempotencyKey !== undefined) {
      const earlier = await this.earlierFlow(tenant, idempotencyKey, fingerprint);
      if (earlier) return { status: 200, flow: { ...(await this.view(earlier)), deduplicated: true } };
    }
    await this.catalog.ensureKnown(typesIn(body));
    const flow = validateFlow(body, this.config.FLOW_MAX_JOBS, (item, index) =>
      this.validator.check(item, index),
    );
    const submissions = flow.items.map((item) => item.submission);
    await this.submissions.checkFiles(caller, submissions, 'flow_invalid');
    await this.submissions.checkWebhookUrls(caller, submissions, 'flow_invalid');
    const admitted = flow.items.map((item) => ({
      queue: item.submission.queue,
      runAt: item.dependsOn.length ? null : item.submission.runAt,
    }));
    this.limits.assertRoom(await this.limits.counts(tenant, admitted), admitted);

    const { newFlow, jobs, edges, outbox } = this.rows(flow, tenant, idempotencyKey ?? null, fingerprint);
    let created;
    try {
      created = await this.flows.create(newFlow, jobs, edges, outbox);
    } catch (error) {
      if (error instanceof FlowIdempotencyKeyTaken && idempotencyKey !== undefined) {
        // A concurrent request with the same key won the insert.
        const earlier = await this.earlierFlow(tenant, idempotencyKey, fingerprint);
        if (earlier) return { status: 200, flow: { ...(await this.view(earlier)), deduplicated: true } };
      }
      if (error instanceof IdempotencyKeyTaken || error instanceof FlowIdempotencyKeyTaken) {
        throw new ApiError('idempotency_conflict', 'an idempotency key of this flow is already taken', []);
      }
      throw error;
    }
    this.limits.created(tenant, created.rows);
    this.jobs.afterFlowInsert(jobs);
    await this.outbox.publishAfterCommit(created.outbox);
    this.logger.info({ flowId: newFlow.id, tenant, jobs: jobs.length }, 'flow accepted');
    // The answer is built from the rows just inserted: no second read of what this request wrote.
    const dependsOn = new Map(flow.items.map((item) => [item.ref, item.dependsOn]));
    const members = created.rows.map((row) => ({
      ...row,
      depends_on_refs: dependsOn.get(row.ref ?? '') ?? [],
    }));
    const tally = emptyTally();
    for (const row of created.rows) tally.counts[row.status] = (tally.counts[row.status] ?? 0) + 1;
    tally.total = created.rows.length;
    return { status: 202, flow: { ...this.viewOf(created.flow, members, tally), deduplicated: false } };
  }

  /** The flow an idempotency key already names (same request), or null; 422 for another request. */
  private async earlierFlow(tenant: string, key: string, fingerprint: string): Promise<FlowRow | null> {
    const earlier = await this.flows.findByIdempotencyKey(tenant, key);
    if (!earlier) return null;
    if (earlier.created_at.getTime() < Date.now() - this.config.IDEMPOTENCY_TTL_S * 1000) {
      await this.flows.releaseIdempotencyKey(earlier.id);
      return null;
    }
    if (earlier.request_hash !== fingerprint) {
      throw new ApiError(
        'idempotency_conflict',
        'this Idempotency-Key was used for a different flow request',
        [{ field: 'Idempotency-Key', message: `names flow ${earlier.id}` }],
      );
    }
    return earlier;
  }

  private rows(flow: ValidFlow, tenant: string, idempotencyKey: string | null, fingerprint: string) {
    const flowId = randomUUID();
    const correlationId = correlation.get()?.correlationId ?? randomUUID();
    const ids = new Map(flow.items.map((item) => [item.ref, randomUUID()]));
    const jobs: NewJob[] = flow.items.map(({ ref, dependsOn, onDependencyFailure, submission }) => ({
      ...newJobOf(submission, tenant, ids.get(ref) as string, correlationId),
      // A flow job's inputs come from its dependencies: never the dedup window or the result cache.
      requestHash: '',
      runAt: dependsOn.length ? null : submission.runAt,
      flowId,
      ref,
      onDependencyFailure,
      pendingDeps: dependsOn.length,
    }));
    const edges: FlowEdge[] = flow.items.flatMap((item) =>
      item.dependsOn.map((dep) => ({
        jobId: ids.get(item.ref) as string,
        dependsOn: ids.get(dep) as string,
      })),
    );
    const createdAt = new Date().toISOString();
    const outbox: OutboxMessage[] = jobs
      .filter((job) => !job.pendingDeps && !job.runAt)
      .map((job) => queuedEventOf(SERVICE_NAME, job, createdAt));
    const newFlow = {
      id: flowId,
      tenant,
      name: flow.name,
      metadata: flow.metadata,
      idempotencyKey,
      requestHash: fingerprint,
      correlationId,
    };
    return { newFlow, jobs, edges, outbox };
  }

  async get(id: string, caller: Caller): Promise<FlowView> {
    return this.view(await this.find(id, caller));
  }

  /** A page of flows; `tenant` undefined lists every tenant's (admin keys). */
  async list(query: { limit: number; cursor?: string; tenant?: string }) {
    try {
      const { rows, nextCursor } = await this.flows.list(query);
      const tallies = await this.flows.tallies(rows.map((r) => r.id));
      const items = rows.map((row) => this.summary(row, tallies.get(row.id)));
      return { items, nextCursor };
    } catch (error) {
      if (error instanceof FlowListCursorError) {
        throw new ApiError('validation_failed', error.message, [{ field: 'cursor', message: error.message }]);
      }
      throw error;
    }
  }

  async cancel(id: string, caller: Caller): Promise<FlowActionResult> {
    const outcome = await this.flows.cancel(id, tenantScope(caller));
    if (outcome.kind === 'not_found') throw new ApiError('not_found', `flow ${id} not found`);
    await this.outbox.publishCommitted(outcome.outbox);
    this.logger.info(
      { flowId: id, cancelled: outcome.cancelled, cancelRequested: outcome.cancelRequested },
      'flow cancelled',
    );
    return {
      flow: await this.summaryOf(outcome.flow),
      cancelled: outcome.cancelled,
      cancelRequested: outcome.cancelRequested,
    };
  }

  async retry(id: string, caller: Caller): Promise<FlowActionResult> {
    const outcome = await this.flows.retry(id, tenantScope(caller));
    switch (outcome.kind) {
      case 'not_found':
        throw new ApiError('not_found', `flow ${id} not found`);
      case 'not_retryable':
        throw new ApiError('not_retryable', `flow ${id} has no failed or cancelled job to run again`);
      case 'retried':
        this.dispatcher.kick(outcome.queues);
        await this.outbox.publishCommitted(outcome.outbox);
        this.logger.info({ flowId: id, retried: outcome.retried }, 'flow retried');
        return { flow: await this.summaryOf(outcome.flow), retried: outcome.retried };
    }
  }

  async stream(id: string, caller: Caller, reply: FastifyReply): Promise<void> {
    const row = await this.find(id, caller); // 404 before anything streams
    await this.events.streamFlow(
      caller,
      row.id,
      reply,
      () => this.view(row),
      async () =>
        flowStatusOf((await this.flows.tallies([row.id])).get(row.id) ?? emptyTally()) !== 'running',
    );
  }

  private async find(id: string, caller: Caller): Promise<FlowRow> {
    const row = await this.flows.find(id, tenantScope(caller));
    if (!row) throw new ApiError('not_found', `flow ${id} not found`);
    return row;
  }

  private async summaryOf(row: FlowRow): Promise<FlowSummary> {
    return this.summary(row, (await this.flows.tallies([row.id])).get(row.id));
  }

  private summary(row: FlowRow, tally: FlowTally = emptyTally()): FlowSummary {
    const status = flowStatusOf(tally);
    return {
      id: row.id,
      tenant: row.tenant,
      name: row.name,
      metadata: row.metadata,
      status,
      idempotencyKey: row.idempotency_key,
      counts: tally.counts,
      total: tally.total,
      createdAt: row.created_at.toISOString(),
      finishedAt: status === 'running' ? null : iso(tally.lastFinishedAt),
    };
  }

  private async view(row: FlowRow): Promise<FlowView> {
    const [members, tallies] = await Promise.all([
      this.flows.members(row.id, FLOW_VIEW_JOBS_MAX + 1),
      this.flows.tallies([row.id]),
    ]);
    return this.viewOf(row, members, tallies.get(row.id));
  }

  private viewOf(row: FlowRow, members: FlowMemberRow[], tally: FlowTally | undefined): FlowView {
    const listed = members.slice(0, FLOW_VIEW_JOBS_MAX);
    const ordered = dependencyOrder(
      listed,
      (m) => m.ref ?? m.id,
      (m) => m.depends_on_refs,
    );
    return {
      ...this.summary(row, tally),
      jobs: ordered.map(memberView),
      jobsTruncated: members.length > FLOW_VIEW_JOBS_MAX,
    };
  }
}

function emptyTally(): FlowTally {
  return { counts: {}, total: 0, lastFinishedAt: null };
}

function memberView(m: FlowMemberRow): FlowJobView {
  return {
    id: m.id,
    ref: m.ref ?? m.id,
    type: m.type,
    queue: m.queue,
    status: m.status,
    step: m.step,
    progress: m.progress,
    attempts: m.attempts,
    dependsOn: m.depends_on_refs,
    onDependencyFailure: m.on_dependency_failure,
    spawnedBy: m.spawned_by,
    error: m.error,
    createdAt: m.created_at.toISOString(),
    startedAt: iso(m.started_at),
    finishedAt: iso(m.finished_at),
  };
}
