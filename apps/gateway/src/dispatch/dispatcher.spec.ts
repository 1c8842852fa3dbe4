import { JOB_DISPATCH, type JobDispatch } from '@switchyard/contracts';
import type { MessagePublishOptions } from '@switchyard/messaging';
import type { Logger } from '@switchyard/observability';
import type { OutboxRecord, ReleasedJob, ReleaseResult } from '@switchyard/persistence';
import {
  Dispatcher,
  RELEASE_BATCH_MAX,
  SAFETY_TICK_MS,
  type DispatchBroker,
  type DispatcherOptions,
  type DispatchStore,
} from './dispatcher';
import { automaticWindow, RATE_WINDOW_MAX, rateWindow, refillAt, StartRate } from './window';

/** A promise resolved from outside: holds a statement "in flight". */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function job(queue: string, n: number): ReleasedJob {
  return {
    id: `${queue}-${n}`,
    tenant: 't',
    type: 'noop',
    queue,
    correlationId: `c-${n}`,
    effectivePriority: n % 10,
    attempt: 0,
    traceparent: null,
    tracestate: null,
  };
}

/**
 * The backlog in memory; releaseReady takes from it within the window (counting every release, as
 * the statement does, whoever made it) and records what was in flight.
 */
class FakeStore implements DispatchStore {
  backlog = new Map<string, ReleasedJob[]>();
  released = new Map<string, number>();
  calls: {
    queue: string;
    limit: number;
    agingMs: number;
    window: number;
    fair: boolean;
    turn?: { after?: string; pairs?: boolean };
  }[] = [];
  /** Tenants with backlog, when a test models them (as the statements report them). */
  tenants: number | undefined;
  /** Fair releases report that the pairs statement made them (the turns statement did not answer). */
  byPairs = false;
  reReleaseAging: number[] = [];
  inFlight = new Map<string, number>();
  maxInFlight = 0;
  gate: Promise<void> | undefined;
  stale: ReleasedJob[] = [];
  due: { queues: string[]; outbox: OutboxRecord[] }[] = [];
  promoteCalls = 0;
  next: Date | null = null;
  onDispatch: ((queue: string, claimed?: number) => void) | undefined;
  onSettings: (() => void) | undefined;
  listening = false;

  fill(queue: string, count: number): void {
    const list = this.backlog.get(queue) ?? [];
    for (let i = 0; i < count; i++) list.push(job(queue, list.length));
    this.backlog.set(queue, list);
  }

  async releaseReady(
    queue: string,
    limit: number,
    agingMs: number,
    window: number,
    fair = true,
    turn?: { after?: string; pairs?: boolean },
  ): Promise<ReleaseResult> {
    this.calls.push({ queue, limit, agingMs, window, fair, ...(fair ? { turn } : {}) });
    this.order.push('release');
    const now = (this.inFlight.get(queue) ?? 0) + 1;
    this.inFlight.set(queue, now);
    this.maxInFlight = Math.max(this.maxInFlight, now);
    try {
      // The count and the backlog are read when the statement starts (its snapshot); claims and
      // inserts may commit meanwhile.
      const before = this.released.get(queue) ?? 0;
      const visible = this.backlog.get(queue)?.length ?? 0;
      await this.gate;
      // The lean statement releases nothing once it meets a second tenant.
      const take =
        !fair && (this.tenants ?? 1) > 1 ? 0 : Math.min(limit, visible, Math.max(0, window - before));
      const rows = (this.backlog.get(queue) ?? []).splice(0, take);
      this.released.set(queue, (this.released.get(queue) ?? 0) + rows.length);
      return {
        jobs: rows,
        released: before + rows.length,
        ...(this.tenants === undefined ? {} : { tenants: this.tenants }),
        ...(fair && (this.byPairs || turn?.pairs) ? { pairs: true } : {}),
      };
    } finally {
      this.inFlight.set(queue, (this.inFlight.get(queue) ?? 1) - 1);
    }
  }

  /** Keyed backlog per queue (ids only: the fake does not model keys). */
  keyedBacklog = new Map<string, ReleasedJob[]>();
  keyedCalls: { queue: string; limit: number }[] = [];

  releaseKeyed(queue: string, limit: number): Promise<ReleaseResult & { keyed: boolean }> {
    this.keyedCalls.push({ queue, limit });
    const list = this.keyedBacklog.get(queue) ?? [];
    const rows = list.splice(0, limit);
    this.released.set(queue, (this.released.get(queue) ?? 0) + rows.length);
    return Promise.resolve({
      jobs: rows,
      released: this.released.get(queue) ?? 0,
      keyed: rows.length > 0 || list.length > 0,
    });
  }

  keyedBacklogQueues(): Promise<string[]> {
    return Promise.resolve([...this.keyedBacklog].filter(([, list]) => list.length > 0).map(([q]) => q));
  }

  /** Rated backlog per queue (the fake does not model buckets: `ratedAllow` is what a pass may take). */
  ratedBacklog = new Map<string, ReleasedJob[]>();
  ratedCalls: { queue: string; limit: number }[] = [];
  ratedAllow = Number.POSITIVE_INFINITY;

  releaseRated(queue: string, limit: number): Promise<ReleaseResult & { rated: boolean }> {
    this.ratedCalls.push({ queue, limit });
    const list = this.ratedBacklog.get(queue) ?? [];
    const rows = list.splice(0, Math.min(limit, this.ratedAllow));
    this.released.set(queue, (this.released.get(queue) ?? 0) + rows.length);
    return Promise.resolve({
      jobs: rows,
      released: this.released.get(queue) ?? 0,
      rated: rows.length > 0 || list.length > 0,
    });
  }

  ratedBacklogQueues(): Promise<string[]> {
    return Promise.resolve([...this.ratedBacklog].filter(([, list]) => list.length > 0).map(([q]) => q));
  }

  releasedCounts(queues: readonly string[]): Promise<Map<string, number>> {
    return Promise.resolve(new Map(queues.map((q) => [q, this.released.get(q) ?? 0])));
  }

  backlogQueues(): Promise<string[]> {
    return Promise.resolve([...this.backlog].filter(([, list]) => list.length > 0).map(([q]) => q));
  }

  reReleaseStale(_afterMs?: number, _limit?: number, agingMs?: number): Promise<ReleasedJob[]> {
    if (agingMs !== undefined) this.reReleaseAging.push(agingMs);
    const rows = this.stale;
    this.stale = [];
    return Promise.resolve(rows);
  }

  /** Every statement in call order, for tests that care about what goes first. */
  order: string[] = [];
  promoteLimits: number[] = [];

  promoteDue(limit: number): Promise<{ queues: string[]; outbox: OutboxRecord[] }> {
    this.promoteCalls++;
    this.promoteLimits.push(limit);
    this.order.push('promote');
    return Promise.resolve(this.due.shift() ?? { queues: [], outbox: [] });
  }

  nextRunAt(): Promise<Date | null> {
    return Promise.resolve(this.next);
  }

  listen(
    onDispatch: (queue: string, claimed?: number) => void,
    onSettings: () => void,
  ): Promise<() => Promise<void>> {
    this.onDispatch = onDispatch;
    this.onSettings = onSettings;
    this.listening = true;
    return Promise.resolve(() => {
      this.listening = false;
      return Promise.resolve();
    });
  }

  /** A worker claimed `count` released jobs and notified (CLAIMED_CHANNEL). */
  claim(queue: string, count: number): void {
    this.released.set(queue, Math.max(0, (this.released.get(queue) ?? 0) - count));
    this.onDispatch?.(queue, count);
  }
}

class FakeBroker implements DispatchBroker {
  published: { payload: JobDispatch; options: MessagePublishOptions }[] = [];
  failing = false;
  consumers = new Map<string, number>();

  publish(name: typeof JOB_DISPATCH, payload: JobDispatch, options: MessagePublishOptions): Promise<void> {
    expect(name).toBe(JOB_DISPATCH);
    if (this.failing) return Promise.reject(new Error('broker down'));
    this.published.push({ payload, options });
    return Promise.resolve();
  }

  consumerCount(queue: string): Promise<number> {
    return Promise.resolve(this.consumers.get(queue) ?? 0);
  }
}

const logger = {
  warn: jest.fn(),
  info: jest.fn(),
  debug: jest.fn(),
  error: jest.fn(),
} as unknown as Logger;

/** Lets every settled promise chain run (the dispatcher's passes are promise loops). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((resolve) => setImmediate(resolve));
}

function setup(options: Partial<DispatcherOptions> = {}, paused = new Set<string>()) {
  const store = new FakeStore();
  const broker = new FakeBroker();
  const settings: { paused: Set<string>; pausedQueues: jest.Mock<Promise<Set<string>>, []> } = {
    paused,
    pausedQueues: jest.fn(() => Promise.resolve(new Set(settings.paused))),
  };
  const outbox: OutboxRecord[][] = [];
  const counted = { released: 0, rereleased: 0 };
  const dispatcher = new Dispatcher(
    store,
    broker,
    settings,
    (records) => {
      outbox.push(records);
      return Promise.resolve();
    },
    { window: 4, prefetch: 8, agingMs: 60000, redispatchAfterMs: 30000, queues: ['default'], ...options },
    logger,
    {
      released: (_q, n) => (counted.released += n),
      rereleased: (_q, n) => (counted.rereleased += n),
    },
  );
  return { store, broker, settings, dispatcher, outbox, counted };
}

describe('Dispatcher', () => {
  afterEach(() => jest.useRealTimers());

  it('runs at most one release statement per queue at a time and coalesces kicks into one more pass', async () => {
    const { store, dispatcher } = setup({ window: 1000 });
    await dispatcher.start();
    await settle();
    store.calls = [];
    const gate = deferred();
    store.gate = gate.promise;
    store.fill('default', 3);
    for (let i = 0; i < 10; i++) dispatcher.kick(['default']);
    await settle();
    expect(store.calls).toHaveLength(1);
    expect(store.maxInFlight).toBe(1);
    gate.resolve();
    await settle();
    // The first pass took everything; the nine kicks during it became exactly one more pass.
    expect(store.calls).toHaveLength(2);
    expect(store.maxInFlight).toBe(1);
    await dispatcher.stop();
  });

  it('runs the fair statement at once, in the same pass, when the lean one meets a second tenant', async () => {
    const { store, dispatcher, broker } = setup({ window: 100 });
    store.tenants = 1;
    await dispatcher.start();
    await settle();
    // The first statement is the fair one; it saw one tenant, so the queue runs the lean one next.
    expect(store.calls.map((c) => c.fair)).toEqual([true]);
    store.calls = [];
    store.fill('default', 3);
    dispatcher.kick(['default']);
    await settle();
    expect(store.calls.map((c) => c.fair)).toEqual([false]);
    // A second tenant: the lean statement releases nothing, the fair one follows at once.
    store.tenants = 2;
    store.calls = [];
    store.fill('default', 3);
    dispatcher.kick(['default']);
    await settle();
    expect(store.calls.map((c) => c.fair)).toEqual([false, true]);
    expect(broker.published).toHaveLength(6);
    await dispatcher.stop();
  });

  it('publishes a release several jobs per work message: one priority and type each, at most K', async () => {
    const { store, dispatcher, broker, counted } = setup({
      window: 100,
      batchSize: (type) => (type === 'noop' ? 3 : 1),
    });
    await dispatcher.start();
    await settle();
    broker.published = [];
    counted.released = 0;
    // effectivePriority n % 10: jobs 10, 20 and 30 share priority 0; the rest are alone.
    store.fill('default', 31);
    dispatcher.kick(['default']);
    await settle();
    const messages = broker.published.map((p) => ({
      ids: (p.payload.jobs ?? [{ jobId: p.payload.jobId }]).map((j) => j.jobId),
      priority: p.options.priority,
    }));
    // Every job once, the window counting jobs, not messages.
    expect(messages.flatMap((m) => m.ids).sort()).toEqual(
      Array.from({ length: 31 }, (_, i) => `default-${i}`).sort(),
    );
    expect(counted.released).toBe(31);
    expect(dispatcher.releasedCount('default')).toBe(31);
    expect(messages.every((m) => m.ids.length <= 3)).toBe(true);
    expect(messages.length).toBeLessThan(31);
    for (const m of messages) {
      const priorities = m.ids.map((id) => Number(id.split('-')[1]) % 10);
      expect(new Set(priorities)).toEqual(new Set([m.priority]));
    }
    await dispatcher.stop();
  });

  it('lets an insert release new jobs itself only while the backlog is empty, the queue running and the window roomy', async () => {
    const { store, settings, dispatcher, counted } = setup({ window: 4 });
    /** An insert's own release, counted where the statements count the window (the jobs table). */
    const insertRelease = (count: number) => {
      const ok = dispatcher.reserveFast('default', count);
      if (ok) store.released.set('default', (store.released.get('default') ?? 0) + count);
      return ok;
    };
    // Before the first release statement nothing is known about the backlog.
    expect(insertRelease(1)).toBe(false);
    await dispatcher.start();
    await settle();
    // The first pass found nothing: the queue is idle.
    expect(insertRelease(3)).toBe(true);
    expect(dispatcher.releasedCount('default')).toBe(3);
    expect(counted.released).toBe(3);
    // Only the room left in the window: 1 more, not 2.
    expect(insertRelease(2)).toBe(false);
    expect(insertRelease(1)).toBe(true);
    // New work kicked into the backlog: no insert release until a pass finds the backlog empty.
    store.claim('default', 4);
    await settle();
    store.fill('default', 2);
    dispatcher.kick(['default']);
    expect(insertRelease(1)).toBe(false);
    await settle();
    // That pass took both (fewer than its room): the backlog is empty again.
    expect(store.backlog.get('default')).toHaveLength(0);
    expect(insertRelease(1)).toBe(true);
    // A pass that filled its batch may have left backlog behind.
    store.claim('default', 3);
    store.fill('default', 10);
    dispatcher.kick(['default']);
    await settle();
    expect(store.backlog.get('default')).toHaveLength(6);
    expect(insertRelease(1)).toBe(false);
    // A paused queue releases nothing, however idle.
    store.backlog.set('default', []);
    store.claim('default', 4);
    dispatcher.kick(['default']);
    await settle();
    expect(insertRelease(1)).toBe(true);
    settings.paused.add('default');
    store.onSettings?.();
    await settle();
    expect(insertRelease(1)).toBe(false);
    await dispatcher.stop();
  });

  it('keeps an insert off the fast path after a pass that new work was kicked during (the pass may not have seen it)', async () => {
    const { store, dispatcher } = setup({ window: 8 });
    const insertRelease = (count: number) => {
      const ok = dispatcher.reserveFast('default', count);
      if (ok) store.released.set('default', (store.released.get('default') ?? 0) + count);
      return ok;
    };
    await dispatcher.start();
    await settle();
    const first = deferred();
    store.gate = first.promise;
    store.fill('default', 1);
    dispatcher.kick(['default']);
    await settle();
    // A job committed after the running statement's snapshot, and kicked.
    store.fill('default', 1);
    dispatcher.kick(['default']);
    const second = deferred();
    store.gate = second.promise;
    first.resolve();
    await settle();
    // The first statement released only what it saw, fewer than it could: the second one runs.
    expect(store.calls).toHaveLength(3);
    expect(store.backlog.get('default')).toHaveLength(1);
    // Meanwhile a new job may not overtake the one still waiting.
    expect(insertRelease(1)).toBe(false);
    second.resolve();
    await settle();
    expect(store.backlog.get('default')).toHaveLength(0);
    expect(insertRelease(1)).toBe(true);
    await dispatcher.stop();
  });

  it('goes on with the turns from the tenant the last fair release ended with, and holds to the pairs statement for a second after the turns one did not answer', async () => {
    let now = 1_000_000;
    const { store, dispatcher } = setup({ window: 100, now: () => now });
    store.tenants = 3;
    await dispatcher.start();
    await settle();
    expect(store.calls.map((c) => c.turn)).toEqual([{ after: '', pairs: false }]);
    store.calls = [];
    store.backlog.set('default', [
      { ...job('default', 0), tenant: 'a' },
      { ...job('default', 1), tenant: 'c' },
    ]);
    dispatcher.kick(['default']);
    await settle();
    store.fill('default', 1);
    store.byPairs = true;
    dispatcher.kick(['default']);
    await settle();
    store.fill('default', 1);
    store.byPairs = false;
    dispatcher.kick(['default']);
    await settle();
    now += 1000;
    store.fill('default', 1);
    dispatcher.kick(['default']);
    await settle();
    expect(store.calls.map((c) => c.turn)).toEqual([
      { after: '', pairs: false },
      // The last job released was tenant c's; the pairs statement made the next release…
      { after: 'c', pairs: false },
      // …so the next ones within a second go to it straight away, then the turns statement again.
      { after: 't', pairs: true },
      { after: 't', pairs: false },
    ]);
    await dispatcher.stop();
  });

  it('releases at once on a kick (fast path) with the aging interval and publishes each job', async () => {
    const { store, broker, dispatcher, counted } = setup({ window: 10, agingMs: 200 });
    await dispatcher.start();
    await settle();
    store.fill('default', 2);
    dispatcher.kick(['default']);
    await settle();
    expect(store.calls.at(-1)).toMatchObject({ queue: 'default', limit: 10, agingMs: 200, window: 10 });
    expect(broker.published.map((p) => p.payload)).toEqual([
      { jobId: 'default-0', tenant: 't', type: 'noop', queue: 'default' },
      { jobId: 'default-1', tenant: 't', type: 'noop', queue: 'default' },
    ]);
    expect(broker.published[1]?.options).toEqual({
      priority: 1,
      correlationId: 'c-1',
      messageId: 'default-1',
    });
    expect(counted.released).toBe(2);
    await dispatcher.stop();
  });

  it('runs the keyed release only for queues with keyed backlog, in the room the unkeyed jobs left', async () => {
    const { store, broker, dispatcher } = setup({ window: 10 });
    await dispatcher.start();
    await settle();
    store.fill('default', 3);
    dispatcher.kick(['default']);
    await settle();
    // No keyed work: the hot path runs its one statement only.
    expect(store.keyedCalls).toEqual([]);
    store.keyedBacklog.set('default', [job('default', 100), job('default', 101)]);
    dispatcher.kick(['default'], true);
    await settle();
    expect(store.keyedCalls).toEqual([{ queue: 'default', limit: 7 }]);
    expect(broker.published.map((p) => p.payload.jobId)).toEqual([
      'default-0',
      'default-1',
      'default-2',
      'default-100',
      'default-101',
    ]);
    // The next keyed release finds no keyed backlog left: later passes skip it again.
    store.claim('default', 5);
    dispatcher.kick(['default']);
    await settle();
    expect(store.keyedCalls).toHaveLength(2);
    dispatcher.kick(['default']);
    await settle();
    expect(store.keyedCalls).toHaveLength(2);
    await dispatcher.stop();
  });

  it('runs the rated release after the keyed one, in the room left, and comes back for it on the tick', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate'] });
    const { store, broker, dispatcher } = setup({ window: 10 });
    await dispatcher.start();
    await settle();
    store.fill('default', 2);
    dispatcher.kick(['default']);
    await settle();
    // No rated work: the rated release never runs.
    expect(store.ratedCalls).toEqual([]);
    store.keyedBacklog.set('default', [job('default', 100)]);
    store.ratedBacklog.set('default', [job('default', 200), job('default', 201), job('default', 202)]);
    // A bucket with one token: the pass releases one, the others wait for the refill.
    store.ratedAllow = 1;
    dispatcher.kick(['default'], true, true);
    await settle();
    expect(store.ratedCalls).toEqual([{ queue: 'default', limit: 7 }]);
    expect(broker.published.map((p) => p.payload.jobId)).toEqual([
      'default-0',
      'default-1',
      'default-100',
      'default-200',
    ]);
    // No kick: the safety tick comes back for the rated backlog once tokens refilled.
    store.ratedAllow = 5;
    await jest.advanceTimersByTimeAsync(SAFETY_TICK_MS);
    await settle();
    expect(broker.published.map((p) => p.payload.jobId).slice(4)).toEqual(['default-201', 'default-202']);
    await dispatcher.stop();
  });

  it('keeps at most the window released and refills it when a claim notifies', async () => {
    const { store, broker, dispatcher } = setup({ window: 4 });
    store.fill('default', 10);
    await dispatcher.start();
    await settle();
    expect(broker.published).toHaveLength(4);
    expect(dispatcher.releasedCount('default')).toBe(4);
    // Submissions alone never pass the window: no statement runs without room.
    const calls = store.calls.length;
    dispatcher.kick(['default']);
    await settle();
    expect(store.calls).toHaveLength(calls);
    expect(broker.published).toHaveLength(4);
    store.claim('default', 3);
    await settle();
    expect(store.calls.at(-1)?.limit).toBe(3);
    expect(broker.published).toHaveLength(7);
    expect(dispatcher.releasedCount('default')).toBe(4);
    await dispatcher.stop();
  });

  it('refills on claims only once half the window is free: one statement for several claims', async () => {
    expect(refillAt(16)).toBe(8);
    expect(refillAt(5)).toBe(3);
    expect(refillAt(1)).toBe(1);
    const { store, broker, dispatcher } = setup({ window: 8 });
    store.fill('default', 100);
    await dispatcher.start();
    await settle();
    expect(broker.published).toHaveLength(8);
    const calls = store.calls.length;
    for (let i = 0; i < 3; i++) {
      store.claim('default', 1);
      await settle();
    }
    // Three slots free: below half of 8, no statement yet.
    expect(store.calls).toHaveLength(calls);
    expect(dispatcher.releasedCount('default')).toBe(5);
    store.claim('default', 1);
    await settle();
    expect(store.calls).toHaveLength(calls + 1);
    expect(store.calls.at(-1)?.limit).toBe(4);
    expect(broker.published).toHaveLength(12);
    expect(dispatcher.releasedCount('default')).toBe(8);
    await dispatcher.stop();
  });

  it('runs no release statement for claims while the queue is idle (its inserts released every job themselves)', async () => {
    const { store, dispatcher } = setup({ window: 8 });
    await dispatcher.start();
    await settle();
    // The first pass found no backlog: inserts release their own jobs.
    const calls = store.calls.length;
    for (let i = 0; i < 8; i++) expect(dispatcher.reserveFast('default', 1)).toBe(true);
    store.released.set('default', 8);
    // The worker claims them all: nothing waits in the backlog, so no statement runs.
    for (let i = 0; i < 8; i++) store.claim('default', 1);
    await settle();
    expect(store.calls).toHaveLength(calls);
    expect(dispatcher.releasedCount('default')).toBe(0);
    // New backlog is kicked (a submission the fast path could not take): released at once, and
    // claims refill the window again while the pass may have left backlog behind.
    store.fill('default', 20);
    dispatcher.kick(['default']);
    await settle();
    expect(store.calls).toHaveLength(calls + 1);
    expect(store.backlog.get('default')).toHaveLength(12);
    for (let i = 0; i < 4; i++) store.claim('default', 1);
    await settle();
    expect(store.calls).toHaveLength(calls + 2);
    expect(store.backlog.get('default')).toHaveLength(8);
    await dispatcher.stop();
  });

  it('still refills on claims while an idle queue has keyed backlog (the keyed release runs in the room)', async () => {
    const { store, dispatcher } = setup({ window: 8 });
    await dispatcher.start();
    await settle();
    store.keyedBacklog.set('default', [job('default', 1), job('default', 2)]);
    dispatcher.kick(['default'], true);
    await settle();
    // The keyed release took both; the unkeyed backlog is empty (idle), the queue may have more keyed.
    expect(store.keyedCalls.length).toBeGreaterThan(0);
    const keyedCalls = store.keyedCalls.length;
    store.keyedBacklog.set('default', [job('default', 3)]);
    for (let i = 0; i < 2; i++) store.claim('default', 1);
    await settle();
    expect(store.keyedCalls.length).toBeGreaterThan(keyedCalls);
    await dispatcher.stop();
  });

  it('releases at the next claim what a kick found the window too full for (an urgent submission)', async () => {
    const { store, broker, dispatcher } = setup({ window: 8 });
    store.fill('default', 8);
    await dispatcher.start();
    await settle();
    expect(broker.published).toHaveLength(8);
    // A submission while the window is full: nothing to do yet.
    store.fill('default', 1);
    dispatcher.kick(['default']);
    await settle();
    const calls = store.calls.length;
    // One claim frees one slot: released at once, not after half the window.
    store.claim('default', 1);
    await settle();
    expect(store.calls).toHaveLength(calls + 1);
    expect(broker.published).toHaveLength(9);
    // Claims alone again wait for half the window.
    store.fill('default', 10);
    store.claim('default', 1);
    await settle();
    expect(store.calls).toHaveLength(calls + 1);
    await dispatcher.stop();
  });

  it('does not lose claims notified while a release statement ran (its count may predate them)', async () => {
    const { store, broker, dispatcher } = setup({ window: 8 });
    store.fill('default', 100);
    await dispatcher.start();
    await settle();
    expect(broker.published).toHaveLength(8);
    const gate = deferred();
    store.gate = gate.promise;
    for (let i = 0; i < 4; i++) store.claim('default', 1);
    await settle();
    // The refill statement has read its count (4 out); three more claims commit meanwhile.
    const calls = store.calls.length;
    for (let i = 0; i < 3; i++) store.claim('default', 1);
    gate.resolve();
    await settle();
    // It released 4 and saw 8 out; 5 really are. The claims during it ask for no statement of
    // their own (3 slots free is less than half the window).
    expect(store.released.get('default')).toBe(5);
    expect(dispatcher.releasedCount('default')).toBe(5);
    expect(store.calls).toHaveLength(calls);
    store.gate = undefined;
    store.claim('default', 1);
    await settle();
    expect(store.calls).toHaveLength(calls + 1);
    expect(store.released.get('default')).toBe(8);
    await dispatcher.stop();
  });

  it('keeps the window whatever this process believed: the statement counts every release', async () => {
    const { store, broker, dispatcher } = setup({ window: 6 });
    await dispatcher.start();
    await settle();
    // Another gateway released 5 of this queue's jobs; this one has not heard of them.
    store.fill('default', 20);
    store.released.set('default', 5);
    dispatcher.kick(['default']);
    await settle();
    expect(store.calls.at(-1)).toMatchObject({ limit: 6, window: 6 });
    expect(broker.published).toHaveLength(1);
    expect(dispatcher.releasedCount('default')).toBe(6);
    // Full: claims alone run no statement until half of it is free.
    const calls = store.calls.length;
    store.claim('default', 2);
    await settle();
    expect(store.calls).toHaveLength(calls);
    store.claim('default', 1);
    await settle();
    expect(store.calls).toHaveLength(calls + 1);
    expect(broker.published).toHaveLength(4);
    expect(store.released.get('default')).toBe(6);
    await dispatcher.stop();
  });

  it('loops in batches of at most RELEASE_BATCH_MAX while full batches come back', async () => {
    const { store, broker, dispatcher } = setup({ window: 1200 });
    store.fill('default', 1100);
    await dispatcher.start();
    await settle();
    expect(store.calls.map((c) => c.limit)).toEqual([RELEASE_BATCH_MAX, RELEASE_BATCH_MAX, 200]);
    expect(broker.published).toHaveLength(1100);
    await dispatcher.stop();
  });

  it('sizes the automatic window from the consumer count and the prefetch', async () => {
    expect(automaticWindow(0, 8)).toBe(16);
    expect(automaticWindow(1, 8)).toBe(16);
    expect(automaticWindow(3, 8)).toBe(48);
    const { broker, dispatcher } = setup({ window: 0, prefetch: 8 });
    broker.consumers.set('default', 3);
    await dispatcher.start();
    await settle();
    expect(dispatcher.window('default')).toBe(48);
    await dispatcher.stop();
  });

  it('counts starts per second in one-second buckets, and none after a second without claims', () => {
    let now = 10_000;
    const rate = new StartRate(() => now);
    rate.add(30);
    now += 500;
    rate.add(20);
    expect(rate.perSecond()).toBe(0);
    now += 600;
    expect(rate.perSecond()).toBe(50);
    rate.add(7);
    now += 1000;
    expect(rate.perSecond()).toBe(7);
    now += 2500;
    expect(rate.perSecond()).toBe(0);
  });

  it('grows the automatic window with the start rate (100 ms of starts), bounded, never below the prefetch rule', async () => {
    expect(rateWindow(0)).toBe(0);
    expect(rateWindow(600)).toBe(60);
    expect(rateWindow(1_000_000)).toBe(RATE_WINDOW_MAX);
    let now = 0;
    const { broker, dispatcher } = setup({ window: 0, prefetch: 8, now: () => now });
    broker.consumers.set('default', 1);
    await dispatcher.start();
    await settle();
    expect(dispatcher.window('default')).toBe(16);
    for (let i = 0; i < 100; i++) dispatcher.claimed('default', 6);
    now += 1000;
    expect(dispatcher.window('default')).toBe(60);
    now += 2000;
    expect(dispatcher.window('default')).toBe(16);
    await dispatcher.stop();
    const fixed = setup({ window: 10, now: () => now });
    for (let i = 0; i < 100; i++) fixed.dispatcher.claimed('default', 6);
    now += 1000;
    expect(fixed.dispatcher.window('default')).toBe(10);
    await fixed.dispatcher.stop();
  });

  it('releases nothing for a paused queue and releases at once when it is resumed', async () => {
    const { store, broker, settings, dispatcher } = setup({ window: 10 }, new Set(['default']));
    store.fill('default', 5);
    await dispatcher.start();
    await settle();
    dispatcher.kick(['default']);
    await settle();
    expect(store.calls).toHaveLength(0);
    expect(broker.published).toHaveLength(0);
    settings.paused = new Set();
    store.onSettings?.();
    await settle();
    expect(broker.published).toHaveLength(5);
    await dispatcher.stop();
  });

  it('releases nothing before the paused set could be read', async () => {
    const { store, settings, dispatcher } = setup({ window: 10 });
    settings.pausedQueues.mockImplementation(() => Promise.reject(new Error('database down')));
    store.fill('default', 5);
    await dispatcher.start();
    dispatcher.kick(['default']);
    await settle();
    expect(store.calls).toHaveLength(0);
    await dispatcher.stop();
  });

  it('leaves a failed publish to the re-release, which publishes the stale jobs again', async () => {
    jest.useFakeTimers();
    const { store, broker, dispatcher, counted } = setup({ window: 10 });
    broker.failing = true;
    store.fill('default', 2);
    await dispatcher.start();
    await jest.advanceTimersByTimeAsync(0);
    // The rows are marked released (counted in the window), nothing was published, nothing threw.
    expect(dispatcher.releasedCount('default')).toBe(2);
    expect(broker.published).toHaveLength(0);
    expect(logger.warn).toHaveBeenCalled();
    broker.failing = false;
    broker.consumers.set('default', 1);
    store.stale = [job('default', 0), job('default', 1)];
    await jest.advanceTimersByTimeAsync(SAFETY_TICK_MS);
    expect(broker.published.map((p) => p.payload.jobId)).toEqual(['default-0', 'default-1']);
    expect(counted.rereleased).toBe(2);
    await dispatcher.stop();
  });

  it('does not release again the stale jobs of a queue nobody consumes (their messages wait in RabbitMQ)', async () => {
    jest.useFakeTimers();
    const { store, broker, dispatcher, counted } = setup({ window: 10 });
    const asked: (readonly string[] | undefined)[] = [];
    const reRelease = store.reReleaseStale.bind(store);
    store.reReleaseStale = (
      afterMs?: number,
      limit?: number,
      agingMs?: number,
      queues?: readonly string[],
    ) => {
      asked.push(queues);
      return reRelease(afterMs, limit, agingMs);
    };
    await dispatcher.start();
    store.stale = [job('default', 0)];
    await jest.advanceTimersByTimeAsync(SAFETY_TICK_MS);
    expect(asked).toEqual([]);
    expect(counted.rereleased).toBe(0);
    broker.consumers.set('default', 1);
    await jest.advanceTimersByTimeAsync(SAFETY_TICK_MS);
    expect(asked).toContainEqual(['default']);
    expect(counted.rereleased).toBe(1);
    // Published with the effective priority (aging by PRIORITY_AGING_MS), as a first release is.
    expect(store.reReleaseAging).toContain(60000);
    await dispatcher.stop();
  });

  it('releases a burst of due jobs round by round: a small first round goes out before the rest is promoted', async () => {
    jest.useFakeTimers();
    const { store, dispatcher, outbox } = setup({ window: 1000 });
    const events = (n: number): OutboxRecord[] =>
      Array.from(
        { length: n },
        (_, i) =>
          ({
            id: String(i),
            jobId: `j-${i}`,
            name: 'switchyard.job.queued',
            payload: {},
            options: {},
          }) as unknown as OutboxRecord,
      );
    await dispatcher.start();
    await jest.advanceTimersByTimeAsync(0);
    store.order = [];
    store.promoteLimits = [];
    store.fill('default', 100);
    store.due.push({ queues: ['default'], outbox: events(64) }, { queues: ['default'], outbox: events(10) });
    await jest.advanceTimersByTimeAsync(SAFETY_TICK_MS);
    // 64 first, then the sweep's size; the release started after the first round, before the second.
    expect(store.promoteLimits.slice(0, 2)).toEqual([64, 500]);
    expect(store.order.slice(0, 3)).toEqual(['promote', 'release', 'promote']);
    expect(outbox.map((records) => records.length)).toEqual([64, 10]);
    await dispatcher.stop();
  });

  it('runs the safety tick once a second, not more often', async () => {
    jest.useFakeTimers();
    expect(SAFETY_TICK_MS).toBe(1000);
    const { store, dispatcher } = setup();
    await dispatcher.start();
    await jest.advanceTimersByTimeAsync(0);
    const first = store.promoteCalls;
    await jest.advanceTimersByTimeAsync(3000);
    expect(store.promoteCalls - first).toBe(3);
    await dispatcher.stop();
    await jest.advanceTimersByTimeAsync(3000);
    expect(store.promoteCalls - first).toBe(3);
  });

  it('releases backlogs nobody kicked on the tick (another gateway inserted them)', async () => {
    jest.useFakeTimers();
    const { store, broker, dispatcher } = setup({ window: 10, queues: [] });
    await dispatcher.start();
    await jest.advanceTimersByTimeAsync(0);
    store.fill('reports', 3);
    await jest.advanceTimersByTimeAsync(SAFETY_TICK_MS);
    expect(broker.published.map((p) => p.payload.queue)).toEqual(['reports', 'reports', 'reports']);
    await dispatcher.stop();
  });

  it('promotes due scheduled jobs at their run_at (timer), publishes their events and releases them', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const { store, broker, dispatcher, outbox } = setup({ window: 10 });
    await dispatcher.start();
    await jest.advanceTimersByTimeAsync(0);
    const promotesBefore = store.promoteCalls;
    const event = { id: '1', jobId: 'default-0', name: 'switchyard.job.queued' } as unknown as OutboxRecord;
    dispatcher.scheduled(new Date(Date.now() + 300));
    await jest.advanceTimersByTimeAsync(250);
    expect(store.promoteCalls).toBe(promotesBefore);
    store.fill('default', 1);
    store.due.push({ queues: ['default'], outbox: [event] });
    await jest.advanceTimersByTimeAsync(60);
    // The timer fired at run_at, well before the next tick.
    expect(store.promoteCalls).toBe(promotesBefore + 1);
    expect(outbox).toEqual([[event]]);
    expect(broker.published.map((p) => p.payload.jobId)).toEqual(['default-0']);
    await dispatcher.stop();
  });

  it('arms the timer from nextRunAt on the tick and leaves far run_at to later ticks', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const { store, dispatcher } = setup();
    store.next = new Date(Date.now() + 1500);
    await dispatcher.start();
    await jest.advanceTimersByTimeAsync(0);
    const before = store.promoteCalls;
    // Tick at 1000 (promote) arms the timer for 1500, then the tick at 2000.
    await jest.advanceTimersByTimeAsync(1000);
    expect(store.promoteCalls).toBe(before + 1);
    store.next = null;
    await jest.advanceTimersByTimeAsync(510);
    expect(store.promoteCalls).toBe(before + 2);
    await dispatcher.stop();
  });

  it('stops listening and ignores kicks after stop', async () => {
    const { store, dispatcher } = setup({ window: 10 });
    await dispatcher.start();
    expect(store.listening).toBe(true);
    await dispatcher.stop();
    expect(store.listening).toBe(false);
    store.fill('default', 1);
    store.calls = [];
    dispatcher.kick(['default']);
    await settle();
    expect(store.calls).toHaveLength(0);
  });
});
