import { JOB_DISPATCH, jobDispatch, jobDispatchBatch, type JobDispatch } from '@switchyard/contracts';
import type { MessagePublishOptions } from '@switchyard/messaging';
import {
  SPAN_ATTRIBUTES,
  contextFrom,
  detached,
  SpanKind,
  traced,
  tracingEnabled,
  type Logger,
} from '@switchyard/observability';
import type { DispatchRepository, OutboxRecord, ReleasedJob } from '@switchyard/persistence';
import { LogThrottle, pollDelay } from '@switchyard/service-kit';
import { dispatchBatches } from './batching';
import { automaticWindow, rateWindow, refillAt, StartRate } from './window';

/** Most jobs one release statement takes; a pass loops while full batches come back. */
export const RELEASE_BATCH_MAX = 500;
/** The safety tick: promotions, re-releases, backlogs nobody kicked, paused set, consumer counts. */
export const SAFETY_TICK_MS = 1000;
/** Most stale releases or due promotions one statement handles; the next tick takes the rest. */
const SWEEP_BATCH = 500;
/** The first promotion statement of a burst of due jobs: small, so that they start at once. */
const FIRST_PROMOTE_BATCH = 64;
/** Most promotion statements one tick runs (a burst of due jobs is promoted over a few ticks). */
const PROMOTE_ROUNDS = 20;
/** The promotion timer never fires sooner than this: a database clock behind ours must not make it spin. */
const MIN_DUE_DELAY_MS = 10;
/**
 * After the turns statement did not answer, fair releases use the pairs statement straight away
 * for this long (the state that made it fail — many tenants in use — rarely ends sooner).
 */
const PAIRS_HOLD_MS = 1000;
/** A failure of the same step is logged at most once per this many ms (a database outage). */
const WARN_EVERY_MS = 10_000;

/** The persistence the dispatcher needs (DispatchRepository, or a fake in unit specs). */
export type DispatchStore = Pick<
  DispatchRepository,
  | 'releaseReady'
  | 'releaseKeyed'
  | 'releasedCounts'
  | 'backlogQueues'
  | 'keyedBacklogQueues'
  | 'releaseRated'
  | 'ratedBacklogQueues'
  | 'reReleaseStale'
  | 'promoteDue'
  | 'nextRunAt'
  | 'listen'
>;

/** The AMQP side: the typed publish of the dispatch message and the work queues' consumer counts. */
export interface DispatchBroker {
  publish(name: typeof JOB_DISPATCH, payload: JobDispatch, options: MessagePublishOptions): Promise<void>;
  consumerCount(queue: string): Promise<number>;
}

export interface DispatcherOptions {
  /** DISPATCH_WINDOW: released-but-unclaimed messages per queue; 0 = from consumers × prefetch. */
  window: number;
  /** The workers' prefetch per work-queue consumer (WORKER_CONCURRENCY: prefetch = concurrency). */
  prefetch: number;
  /** PRIORITY_AGING_MS: one effective priority level per this long waited; 0 = off. */
  agingMs: number;
  /** REDISPATCH_AFTER_MS: a released job still unclaimed this long after is released again. */
  redispatchAfterMs: number;
  /** The queues known at start (the registry's); queues met in backlogs or kicks join them. */
  queues: readonly string[];
  /**
   * K of a job type: the most of its jobs one work message carries (batching.ts, batchSizeOf);
   * absent: one job per message.
   */
  batchSize?: (type: string) => number;
  tickMs?: number;
  /** The clock of the start rates (tests). */
  now?: () => number;
}

export interface DispatchCounters {
  released(queue: string, count: number): void;
  rereleased(queue: string, count: number): void;
}

interface QueueState {
  /**
   * Released-but-unclaimed jobs as this process last knew them: the count each release statement
   * returns (every gateway's releases included), less the claims notified since, re-read on the
   * tick. Only decides whether a release statement is worth running; the statement keeps the window.
   */
  released: number;
  consumers: number;
  /** The pass under way, if any: at most one release statement in flight per queue. */
  running: Promise<void> | undefined;
  /**
   * The least room that makes the next pass run a statement: 1 after a kick, half the window
   * after claims alone (refillAt); Infinity when no pass is asked for. Requests during a pass
   * coalesce into one more pass.
   */
  need: number;
  /** Bumped by every release: a count read while one happened is stale and not kept. */
  releases: number;
  /**
   * Every job claims notified so far. A count read from PostgreSQL (a release statement's, the
   * tick's) may predate the claims notified while it was read, so those are taken off it: a count
   * too low costs one statement more, a count too high would hold releases back until a tick.
   */
  claimed: number;
  /**
   * A kick (new work: a submission, a hand-back, a resume) found the window full: the next claim
   * releases at once, as a kick would, so a newly submitted urgent job is not held back behind half
   * a window of claims. Cleared by every release statement.
   */
  waiting: boolean;
  /**
   * The pass asked for was asked for by a kick (see `waiting`); set again during a pass, it says
   * new work came while its statement ran (see `idle`).
   */
  fresh: boolean;
  /**
   * The queue may have keyed backlog (jobs with a concurrency key): its passes then run the keyed
   * release too. Set by a keyed submission, a keyed job's end (KEYED_CHANNEL) and the tick; cleared
   * when a keyed release finds no keyed backlog. Queues without keyed jobs never pay for it.
   */
  keyed: boolean;
  /**
   * The queue may have rated backlog (jobs with a rate key and no concurrency key): its passes then
   * run the rated release too. Set by a rated submission and by the tick (which also brings back a
   * key whose tokens refilled or whose 429 hold ended); cleared when a rated release finds none.
   */
  rated: boolean;
  /**
   * The last release saw several tenants with backlog: the next one orders by fair share. Starts
   * true (the first statement finds out); a single-tenant queue then runs the lean statement.
   */
  fair: boolean;
  /** The tenant the last fair release ended with: at equal share the next one's turn comes after it. */
  after: string;
  /**
   * Until then (this.now()) fair releases go straight to the pairs statement: the turns statement
   * did not answer (a weighted tenant or more tenants in use than free; docs/architecture.md).
   */
  pairsUntil: number;
  /** Claims per second (the automatic window's rate part). */
  starts: StartRate;
  /**
   * The last release statement found no more unkeyed backlog than it released, and no new work
   * has been kicked since: a new job may be released by its own insert (reserveFast).
   */
  idle: boolean;
}

/**
 * Releases `queued` jobs from PostgreSQL (the backlog) to their RabbitMQ work queue, in order of
 * effective priority then submission, keeping at most a window of released-but-unclaimed messages
 * per queue. It is woken by kicks (a commit of this gateway: the fast path), by PostgreSQL
 * notifications (claims that freed half the window, a hand-back or a resume) and by a one-second
 * safety tick that also promotes due scheduled jobs and releases again what stayed unclaimed too
 * long. Several gateways may run one each: a release is a conditional update, so no job is
 * released twice for one attempt, and each release statement counts the window itself.
 */
export class Dispatcher {
  private readonly states = new Map<string, QueueState>();
  /** null until read: nothing is released before the paused set is known (it survives restarts). */
  private paused: Set<string> | null = null;
  private tickTimer: NodeJS.Timeout | undefined;
  private tickRunning: Promise<void> | undefined;
  private dueTimer: NodeJS.Timeout | undefined;
  private dueAt = Number.POSITIVE_INFINITY;
  private stopListening: (() => Promise<void>) | undefined;
  private stopped = false;
  private readonly warnings = new LogThrottle(WARN_EVERY_MS);
  /** When the tick's backlog step runs next (see tick()). */
  private backlogDueAt = 0;
  private readonly tickMs: number;
  private readonly now: () => number;

  constructor(
    private readonly store: DispatchStore,
    private readonly broker: DispatchBroker,
    private readonly settings: { pausedQueues(): Promise<Set<string>> },
    private readonly publishOutbox: (records: OutboxRecord[]) => Promise<void>,
    private readonly options: DispatcherOptions,
    private readonly logger: Logger,
    private readonly counters?: DispatchCounters,
  ) {
    this.tickMs = options.tickMs ?? SAFETY_TICK_MS;
    this.now = options.now ?? Date.now;
    for (const queue of options.queues) this.state(queue);
  }

  /** Reads the paused set, listens for notifications, runs a first tick and starts the timers. */
  async start(): Promise<void> {
    await this.refreshPaused();
    try {
      this.stopListening = await this.store.listen(
        (queue, claimed) => (claimed === undefined ? this.kick([queue]) : this.claimed(queue, claimed)),
        () => void this.refreshPaused(),
        (queue) => this.kick([queue], true),
      );
    } catch (error) {
      // The safety tick still releases (within a second) until a restart listens again.
      this.logger.warn({ err: error }, 'dispatch: LISTEN failed; releasing on the safety tick only');
    }
    this.tickTimer = setInterval(() => {
      this.tickRunning ??= this.tick().finally(() => (this.tickRunning = undefined));
    }, this.tickMs);
    this.tickTimer.unref();
    this.tickRunning = this.tick().finally(() => (this.tickRunning = undefined));
  }

  /** Stops the timers and LISTEN, then waits for the passes under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.tickTimer);
    clearTimeout(this.dueTimer);
    await this.stopListening?.().catch(() => undefined);
    await Promise.allSettled([this.tickRunning, ...[...this.states.values()].map((s) => s.running)]);
  }

  /**
   * Releases for `queues` soon: at once when no pass runs for a queue, else one more pass after
   * the current one (kicks during a pass coalesce).
   */
  kick(
    queues: Iterable<string>,
    /** Some of the new work carries a concurrency key (or a key's slot was freed). */
    keyed = false,
    /** Some of the new work carries a rate key. */
    rated = false,
  ): void {
    for (const queue of queues) {
      const state = this.state(queue);
      if (keyed) state.keyed = true;
      if (rated) state.rated = true;
      state.idle = false;
      this.request(queue, 1, true);
    }
  }

  /**
   * The fast path's first half: may `count` new jobs of `queue` (queued at once, no key) be
   * released by their own insert? Yes while the queue is not paused, its last release found its
   * backlog empty with no new work since (so nothing older or more urgent waits: no job is
   * released out of order), and the window has room for all of them, which is then taken. Saves
   * the release statement (a round trip and a commit) between a submission and its start when
   * workers are idle. With several gateways, another gateway's backlog of the same queue is not
   * seen here: a job submitted meanwhile may go before it, within this window.
   */
  reserveFast(queue: string, count: number): boolean {
    if (this.stopped || count < 1 || this.isPaused(queue)) return false;
    const state = this.states.get(queue);
    if (!state?.idle || this.window(queue) - state.released < count) return false;
    state.released += count;
    // A count read from PostgreSQL meanwhile may miss these rows: it is not kept (see the tick).
    state.releases++;
    this.counters?.released(queue, count);
    return true;
  }

  /**
   * A claim took `count` released jobs of `queue` out of its window: a release follows once the
   * window has room for half of it (claims in between only lower the count). Not while the queue
   * is idle (its last release found the backlog empty and nothing was kicked since, so there is
   * nothing to release) and has no keyed or rated backlog: the jobs its inserts released
   * themselves would otherwise make every other claim notification run a release statement that
   * finds nothing (about one per three jobs at 300 single submissions a second). New backlog
   * kicks (a submission, a hand-back, a resume, a promotion), and the tick catches up the rest.
   */
  claimed(queue: string, count: number): void {
    const state = this.state(queue);
    state.released = Math.max(0, state.released - count);
    state.claimed += count;
    state.starts.add(count);
    if (state.idle && !state.keyed && !state.rated) return;
    this.request(queue, state.waiting ? 1 : refillAt(this.window(queue)));
  }

  /**
   * A pass for `queue` that runs a statement once the window has at least `need` room. `fresh`:
   * asked for by new work (a kick), which the next claim releases if the window is full now.
   */
  private request(queue: string, need: number, fresh = false): void {
    if (this.stopped) return;
    const state = this.state(queue);
    state.need = Math.min(state.need, need);
    state.fresh ||= fresh;
    // A pass releases many jobs: it belongs to no one request's trace (each release has its own span).
    state.running ??= detached(() => this.passes(queue, state)).finally(() => (state.running = undefined));
  }

  /** A scheduled job was stored: the promotion timer fires by `runAt` (the tick covers the rest). */
  scheduled(runAt: Date): void {
    this.armDue(runAt.getTime());
  }

  /** The window of `queue`: DISPATCH_WINDOW, or automatic from its consumer count and start rate. */
  window(queue: string): number {
    if (this.options.window > 0) return this.options.window;
    const state = this.state(queue);
    return Math.max(
      automaticWindow(state.consumers, this.options.prefetch),
      rateWindow(state.starts.perSecond()),
    );
  }

  /** K of a job type: the most of its jobs one work message carries (1 without batching). */
  batchSizeOf(type: string): number {
    return this.options.batchSize?.(type) ?? 1;
  }

  /** Released-but-unclaimed jobs of `queue` as this process knows them. */
  releasedCount(queue: string): number {
    return this.state(queue).released;
  }

  isPaused(queue: string): boolean {
    return this.paused?.has(queue) ?? true;
  }

  private state(queue: string): QueueState {
    let state = this.states.get(queue);
    if (!state) {
      state = {
        released: 0,
        consumers: 0,
        running: undefined,
        need: Number.POSITIVE_INFINITY,
        releases: 0,
        claimed: 0,
        waiting: false,
        fresh: false,
        keyed: false,
        rated: false,
        fair: true,
        after: '',
        pairsUntil: 0,
        starts: new StartRate(this.now),
        idle: false,
      };
      this.states.set(queue, state);
    }
    return state;
  }

  private async passes(queue: string, state: QueueState): Promise<void> {
    do {
      const { need, fresh } = state;
      state.need = Number.POSITIVE_INFINITY;
      state.fresh = false;
      try {
        await this.pass(queue, state, need, fresh);
      } catch (error) {
        // Left for the next kick or tick (the backlog stays in PostgreSQL).
        this.warn(`release:${queue}`, { err: error, queue }, 'dispatch: release failed');
      }
    } while (state.need !== Number.POSITIVE_INFINITY && !this.stopped);
  }

  private async pass(queue: string, state: QueueState, need: number, fresh: boolean): Promise<void> {
    // After a batch cut at RELEASE_BATCH_MAX, any room left is worth the next statement.
    for (let least = Math.max(1, need), switched = false; ; least = 1) {
      const window = this.window(queue);
      const room = window - state.released;
      if (room < least || this.stopped || this.isPaused(queue)) {
        if (fresh && room < 1) state.waiting = true;
        return;
      }
      const limit = Math.min(room, RELEASE_BATCH_MAX);
      const claimedBefore = state.claimed;
      const byPairs = this.now() < state.pairsUntil;
      const {
        jobs: rows,
        released,
        tenants,
        pairs,
      } = await this.store.releaseReady(queue, limit, this.options.agingMs, window, state.fair, {
        after: state.after,
        pairs: byPairs,
      });
      const wasFair = state.fair;
      if (wasFair) {
        state.after = rows.at(-1)?.tenant ?? state.after;
        if (pairs && !byPairs) state.pairsUntil = this.now() + PAIRS_HOLD_MS;
      }
      if (tenants !== undefined) state.fair = tenants > 1;
      state.released = Math.max(0, released - (state.claimed - claimedBefore));
      state.waiting = false;
      state.releases++;
      // A lean statement that met a second tenant released nothing (the newcomer's jobs might
      // outrank the first tenant's): the fair statement runs at once (docs/architecture.md).
      if (!wasFair && state.fair && !rows.length && !switched) {
        switched = true;
        continue;
      }
      // Fewer than asked for with room left in the window (by the statement's own count): the
      // unkeyed backlog is empty, until the next kick — unless one came during the pass (`fresh`
      // again): a job committed after the statement's snapshot is backlog it did not see.
      state.idle = rows.length < limit && released < window && !state.fresh;
      if (rows.length) {
        this.counters?.released(queue, rows.length);
        await this.publish(rows, 'release');
      }
      // Keyed jobs after the unkeyed ones, in the room they left (see "Per-key concurrency" in
      // docs/architecture.md); only for a queue that has keyed backlog.
      let left = limit - rows.length;
      if (state.keyed && left > 0 && !this.stopped) {
        const keyedBefore = state.claimed;
        const keyed = await this.store.releaseKeyed(queue, left, this.options.agingMs, window);
        state.keyed = keyed.keyed;
        if (keyed.keyed) state.released = Math.max(0, keyed.released - (state.claimed - keyedBefore));
        state.releases++;
        left -= keyed.jobs.length;
        if (keyed.jobs.length) {
          this.counters?.released(queue, keyed.jobs.length);
          await this.publish(keyed.jobs, 'release', false);
        }
      }
      // Rated jobs last, within their keys' token buckets and holds (see "Provider rate budgets" in
      // docs/architecture.md); only for a queue that has rated backlog.
      if (state.rated && left > 0 && !this.stopped) {
        const ratedBefore = state.claimed;
        const rated = await this.store.releaseRated(queue, left, this.options.agingMs, window);
        state.rated = rated.rated;
        if (rated.rated) state.released = Math.max(0, rated.released - (state.claimed - ratedBefore));
        state.releases++;
        if (rated.jobs.length) {
          this.counters?.released(queue, rated.jobs.length);
          await this.publish(rated.jobs, 'release', false);
        }
      }
      // Only a batch cut at RELEASE_BATCH_MAX calls for the next at once; room that claims freed
      // meanwhile is theirs to ask for (with their own need).
      if (rows.length < limit || limit < RELEASE_BATCH_MAX) return;
    }
  }

  /**
   * Publishes released jobs, several of a short type per work message (`batchSize`; keyed and
   * rated jobs, released one by one within their limits, go alone); a failure is left to the
   * re-release after REDISPATCH_AFTER_MS.
   */
  private async publish(rows: readonly ReleasedJob[], what: string, batched = true): Promise<void> {
    // One work message per batch: the single-job shape for one job, the `jobs` list for several
    // (a batch that cannot be built is a failed publish, left to the re-release).
    const send = async (batch: readonly ReleasedJob[], row: ReleasedJob) =>
      this.broker.publish(JOB_DISPATCH, batch.length > 1 ? jobDispatchBatch(batch) : jobDispatch(row), {
        priority: row.effectivePriority,
        correlationId: row.correlationId,
        messageId: row.id,
      });
    const sizeOf = this.options.batchSize;
    const tracing = tracingEnabled();
    const batches =
      batched && sizeOf
        ? dispatchBatches(rows, sizeOf, (row) => tracing && row.traceparent !== null)
        : rows.map((row) => [row]);
    const results = await Promise.allSettled(
      batches.map((batch) => {
        const [row] = batch;
        if (!row) return Promise.resolve();
        // A traced job always goes alone (dispatchBatches' `alone`): its publish is its own span.
        if (batch.length === 1 && row.traceparent && tracing)
          return this.publishTraced(row, what, () => send(batch, row));
        return send(batch, row);
      }),
    );
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length) {
      this.warn(
        `publish:${what}`,
        { err: failed[0]?.reason as unknown, count: failed.length, afterMs: this.options.redispatchAfterMs },
        'dispatch: publish failed; those jobs are released again later',
      );
    }
  }

  /** The publish in a producer span under the job's stored trace context (its insert). */
  private publishTraced(row: ReleasedJob, what: string, send: () => Promise<void>) {
    const parent = contextFrom({ traceparent: row.traceparent, tracestate: row.tracestate });
    const attributes = {
      'messaging.system': 'rabbitmq',
      'messaging.operation.type': 'publish',
      'messaging.destination.name': row.queue,
      [SPAN_ATTRIBUTES.jobId]: row.id,
      [SPAN_ATTRIBUTES.attempt]: row.attempt + 1,
      [SPAN_ATTRIBUTES.release]: what,
    };
    return traced('job.dispatch', { kind: SpanKind.PRODUCER, parent, attributes }, send);
  }

  /** Once a second: what no kick or notification covers. Each step fails on its own. */
  private async tick(): Promise<void> {
    if (this.stopped) return;
    await Promise.allSettled([this.refreshPaused(), this.refreshConsumers()]);
    await this.step('promote', () => this.promote());
    await this.step('rerelease', () => this.reRelease());
    await this.step('counts', async () => {
      const queues = [...this.states.keys()];
      const before = queues.map((queue) => this.state(queue).releases);
      const claimedBefore = queues.map((queue) => this.state(queue).claimed);
      const counts = await this.store.releasedCounts(queues);
      queues.forEach((queue, i) => {
        const state = this.state(queue);
        // A release during the read may be missing from it: that queue keeps its own count.
        if (state.running || state.releases !== before[i]) return;
        state.released = Math.max(0, (counts.get(queue) ?? 0) - (state.claimed - (claimedBefore[i] ?? 0)));
      });
    });
    // Not new work as a kick is (that catches up what no kick or notification covered).
    // The backlog scans cost more as the backlog grows (~120 ms a tick at 100,000 queued jobs in
    // the bench): paced by their own duration (pollDelay), at most 5 ticks apart. Kicks and claim
    // notifications, not this step, drive the releases of a queue that is being worked.
    if (Date.now() >= this.backlogDueAt) await this.backlogStep();
    await this.step('next-run', async () => {
      const next = await this.store.nextRunAt();
      if (next) this.armDue(next.getTime());
    });
  }

  /** The tick's catch-up: queues with plain, keyed or rated backlog get a pass. */
  private async backlogStep(): Promise<void> {
    const started = performance.now();
    await this.step('backlog', async () => {
      for (const queue of await this.store.backlogQueues()) {
        this.state(queue).idle = false;
        this.request(queue, 1);
      }
      // Keyed backlog waits for a slot: a key's limit raised, or a slot whose end was not notified.
      for (const queue of await this.store.keyedBacklogQueues()) {
        this.state(queue).keyed = true;
        this.request(queue, 1);
      }
      // Rated backlog waits for tokens or for a 429 hold to end: the tick comes back for it (a
      // budget's tokens refill continuously, so once a second releases what refilled meanwhile).
      for (const queue of await this.store.ratedBacklogQueues()) {
        this.state(queue).rated = true;
        this.request(queue, 1);
      }
    });
    const tookMs = performance.now() - started;
    this.backlogDueAt = Date.now() + Math.min(pollDelay(this.tickMs, tookMs), 5 * this.tickMs) - this.tickMs / 2;
  }

  private async promote(): Promise<void> {
    // Each round's jobs are released as soon as it commits, and the next round does not wait for
    // the broker to confirm the last one's job.queued events (a publish that fails is the outbox
    // relay's to repeat; the tracker orders a job's events by seq).
    // The first round is small, so that the first due jobs start while the rest are promoted.
    const publishing: Promise<void>[] = [];
    for (let round = 0; round < PROMOTE_ROUNDS && !this.stopped; round++) {
      const size = round === 0 ? FIRST_PROMOTE_BATCH : SWEEP_BATCH;
      const { queues, outbox } = await this.store.promoteDue(size);
      if (queues.length) this.kick(queues);
      if (outbox.length) publishing.push(this.publishOutbox(outbox));
      // `outbox` holds one job.queued event per promoted job.
      if (outbox.length < size) break;
    }
    await Promise.all(publishing);
  }

  private async reRelease(): Promise<void> {
    // Only queues that have consumers: a message nobody consumes is not lost, it waits in RabbitMQ,
    // and sending it again every REDISPATCH_AFTER_MS would pile up copies while no worker runs.
    const consumed = [...this.states.entries()].filter(([, s]) => s.consumers > 0).map(([q]) => q);
    if (!consumed.length) return;
    const rows = await this.store.reReleaseStale(
      this.options.redispatchAfterMs,
      SWEEP_BATCH,
      this.options.agingMs,
      consumed,
    );
    if (!rows.length) return;
    // A paused queue's stale job is marked again but not published: it waits for the resume.
    const live = rows.filter((row) => !this.isPaused(row.queue));
    const perQueue = new Map<string, number>();
    for (const row of live) perQueue.set(row.queue, (perQueue.get(row.queue) ?? 0) + 1);
    for (const [queue, count] of perQueue) this.counters?.rereleased(queue, count);
    this.logger.warn({ count: live.length }, 'dispatch: released again jobs still unclaimed');
    await this.publish(live, 'rerelease');
  }

  private async refreshPaused(): Promise<void> {
    try {
      const before = this.paused;
      this.paused = await this.settings.pausedQueues();
      // A resumed queue releases at once, without waiting for the tick.
      const resumed =
        before === null ? [...this.states.keys()] : [...before].filter((q) => !this.paused?.has(q));
      if (resumed.length) this.kick(resumed);
    } catch (error) {
      this.warn('paused', { err: error }, 'dispatch: could not read paused queues');
    }
  }

  private async refreshConsumers(): Promise<void> {
    await Promise.all(
      [...this.states.entries()].map(async ([queue, state]) => {
        try {
          state.consumers = await this.broker.consumerCount(queue);
        } catch (error) {
          this.warn(`consumers:${queue}`, { err: error, queue }, 'dispatch: could not read consumer count');
        }
      }),
    );
  }

  /** The promotion timer: the earliest known run_at, re-armed when an earlier one comes. */
  private armDue(at: number): void {
    // Further than a tick away: a later tick arms it (nextRunAt), so timers stay short and few.
    if (this.stopped || at >= this.dueAt || at - Date.now() > this.tickMs) return;
    clearTimeout(this.dueTimer);
    this.dueAt = at;
    this.dueTimer = setTimeout(
      () => {
        this.dueAt = Number.POSITIVE_INFINITY;
        void this.step('promote', () => this.promote()).then(() =>
          this.step('next-run', async () => {
            const next = await this.store.nextRunAt();
            if (next) this.armDue(next.getTime());
          }),
        );
      },
      Math.max(MIN_DUE_DELAY_MS, at - Date.now()),
    );
    this.dueTimer.unref();
  }

  private async step(name: string, run: () => Promise<void>): Promise<void> {
    try {
      await run();
    } catch (error) {
      this.warn(name, { err: error }, `dispatch: ${name} failed`);
    }
  }

  private warn(key: string, fields: Record<string, unknown>, message: string): void {
    if (this.warnings.allow(key)) this.logger.warn(fields, message);
  }
}
