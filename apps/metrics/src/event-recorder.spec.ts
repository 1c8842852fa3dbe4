import { createJobEvent, type JobEventData, type JobEventName } from '@switchyard/contracts';
import { Registry } from 'prom-client';
import { BoundedSet, EventRecorder, SeenEvents } from './event-recorder';
import { createJobMetrics } from './job-metrics';

const JOB = '00000000-0000-4000-8000-000000000001';
const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(T0 + ms).toISOString();

function event(name: JobEventName, data: Partial<JobEventData> = {}) {
  return createJobEvent(
    'test',
    name,
    {
      jobId: JOB,
      tenant: 'acme',
      type: 'synthetic',
      queue: 'default',
      status: 'queued',
      step: null,
      progress: 0,
      message: null,
      attempt: 0,
      seq: 1,
      createdAt: iso(0),
      ...data,
    },
    'corr-1',
  );
}

async function values(registry: Registry, name: string): Promise<Record<string, number>> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const out: Record<string, number> = {};
  for (const v of (metric?.values ?? []) as {
    labels: Record<string, string | number>;
    value: number;
    metricName?: string;
  }[]) {
    const labels = Object.entries(v.labels)
      .map(([k, val]) => `${k}=${val}`)
      .join(',');
    out[`${v.metricName ?? name}{${labels}}`] = v.value;
  }
  return out;
}

describe('EventRecorder', () => {
  let registry: Registry;
  let recorder: EventRecorder;

  beforeEach(() => {
    registry = new Registry();
    recorder = new EventRecorder(createJobMetrics(registry));
  });

  it('counts an acceptance as submitted by type, queue and priority, and per tenant', async () => {
    expect(recorder.needsPriority(event('queued'))).toBe(true);
    recorder.record(event('queued'), 7);
    expect(await values(registry, 'switchyard_jobs_submitted_total')).toEqual({
      'switchyard_jobs_submitted_total{type=synthetic,queue=default,priority=7}': 1,
    });
    expect(await values(registry, 'switchyard_tenant_jobs_submitted_total')).toEqual({
      'switchyard_tenant_jobs_submitted_total{tenant=acme}': 1,
    });
  });

  it('keeps any printable tenant name and collapses control characters', async () => {
    recorder.record(event('queued', { jobId: 'a', tenant: 'Acme Corp / EU' }), 5);
    recorder.record(event('queued', { jobId: 'b', tenant: 'bad\ntenant' }), 5);
    expect(await values(registry, 'switchyard_tenant_jobs_submitted_total')).toEqual({
      'switchyard_tenant_jobs_submitted_total{tenant=Acme Corp / EU}': 1,
      'switchyard_tenant_jobs_submitted_total{tenant=unknown}': 1,
    });
  });

  it('uses the priority an event carries, and "unknown" when neither the event nor the caller has one', async () => {
    const withPriority = event('queued', { jobId: 'a', priority: 9 });
    expect(recorder.needsPriority(withPriority)).toBe(false);
    recorder.record(withPriority, 1);
    recorder.record(event('queued', { jobId: 'b' }));
    expect(await values(registry, 'switchyard_jobs_submitted_total')).toEqual({
      'switchyard_jobs_submitted_total{type=synthetic,queue=default,priority=9}': 1,
      'switchyard_jobs_submitted_total{type=synthetic,queue=default,priority=unknown}': 1,
    });
  });

  it('counts a later job.queued (retry, replay, hand-back) as requeued, not as a submission', async () => {
    recorder.record(event('queued'), 5);
    const requeue = event('queued', { seq: 20003, attempt: 0 });
    expect(recorder.needsPriority(requeue)).toBe(false);
    recorder.record(requeue);
    expect(Object.values(await values(registry, 'switchyard_jobs_submitted_total'))).toEqual([1]);
    expect(await values(registry, 'switchyard_jobs_requeued_total')).toEqual({
      'switchyard_jobs_requeued_total{type=synthetic}': 1,
    });
  });

  it('counts a job that ends before it was ever queued (its terminal event is seq 1) as submitted too', async () => {
    // A flow job failed by its dependency while waiting; a scheduled job cancelled before its time.
    const failed = event('failed', {
      jobId: 'w',
      status: 'failed',
      error: { code: 'dependency_failed', message: 'x', retryable: false },
    });
    expect(recorder.needsPriority(failed)).toBe(true);
    recorder.record(failed, 5);
    recorder.record(event('cancelled', { jobId: 's', status: 'cancelled' }), 5);
    expect(await values(registry, 'switchyard_jobs_submitted_total')).toEqual({
      'switchyard_jobs_submitted_total{type=synthetic,queue=default,priority=5}': 2,
    });
    expect(await values(registry, 'switchyard_jobs_failed_total')).toEqual({
      'switchyard_jobs_failed_total{type=synthetic,code=dependency_failed}': 1,
    });
  });

  it('records each (jobId, seq) once, whatever the broker redelivers', async () => {
    const completed = event('completed', { seq: 10002, attempt: 1, startedAt: iso(10), finishedAt: iso(30) });
    expect(recorder.record(event('queued'), 5)).toBe('applied');
    expect(recorder.record(event('queued'), 5)).toBe('duplicate');
    expect(recorder.record(completed)).toBe('applied');
    expect(recorder.record({ ...completed, id: 'another-cloudevent-id' })).toBe('duplicate');
    expect(Object.values(await values(registry, 'switchyard_jobs_submitted_total'))).toEqual([1]);
    expect(Object.values(await values(registry, 'switchyard_jobs_completed_total'))).toEqual([1]);
    expect(await values(registry, 'switchyard_metrics_events_dropped_total')).toEqual({
      'switchyard_metrics_events_dropped_total{reason=duplicate}': 2,
      'switchyard_metrics_events_dropped_total{reason=invalid}': 0,
    });
  });

  it('observes the wait once per job, on the start of its first attempt', async () => {
    recorder.record(event('started', { seq: 2, attempt: 1, status: 'running', startedAt: iso(250) }));
    // A second attempt, and a first attempt again after a hand-back: no second observation.
    recorder.record(event('started', { seq: 10003, attempt: 2, status: 'running', startedAt: iso(5000) }));
    recorder.record(event('started', { seq: 20004, attempt: 1, status: 'running', startedAt: iso(9000) }));
    const wait = await values(registry, 'switchyard_job_wait_seconds');
    expect(wait['switchyard_job_wait_seconds_count{type=synthetic}']).toBe(1);
    expect(wait['switchyard_job_wait_seconds_sum{type=synthetic}']).toBeCloseTo(0.25, 6);
    expect(wait['switchyard_job_wait_seconds_bucket{le=0.25,type=synthetic}']).toBe(1);
    expect(wait['switchyard_job_wait_seconds_bucket{le=0.1,type=synthetic}']).toBe(0);
  });

  it('observes the duration of completed jobs from the final attempt, never negative', async () => {
    recorder.record(event('completed', { seq: 3, attempt: 2, startedAt: iso(1000), finishedAt: iso(3500) }));
    recorder.record(
      // Clock skew between hosts: finished "before" started.
      event('completed', { jobId: 'skewed', seq: 3, attempt: 1, startedAt: iso(100), finishedAt: iso(90) }),
    );
    const duration = await values(registry, 'switchyard_job_duration_seconds');
    expect(duration['switchyard_job_duration_seconds_count{type=synthetic}']).toBe(2);
    expect(duration['switchyard_job_duration_seconds_sum{type=synthetic}']).toBeCloseTo(2.5, 6);
    expect(duration['switchyard_job_duration_seconds_bucket{le=0.005,type=synthetic}']).toBe(1);
  });

  it('counts failures by code, each failure as dead-lettered too', async () => {
    const error = { code: 'permanent_error', message: 'no', retryable: false };
    recorder.record(event('failed', { seq: 4, status: 'failed', error }));
    recorder.record(event('failed', { jobId: 'x', seq: 4, status: 'failed' }));
    recorder.record(
      event('failed', { jobId: 'y', seq: 4, status: 'failed', error: { ...error, code: 'bad code {"}' } }),
    );
    expect(await values(registry, 'switchyard_jobs_failed_total')).toEqual({
      'switchyard_jobs_failed_total{type=synthetic,code=permanent_error}': 1,
      'switchyard_jobs_failed_total{type=synthetic,code=unknown}': 2,
    });
    expect(await values(registry, 'switchyard_jobs_dead_lettered_total')).toEqual({
      'switchyard_jobs_dead_lettered_total{type=synthetic}': 3,
    });
  });

  it('counts retries and cancellations; progress changes no job metric', async () => {
    recorder.record(event('retrying', { seq: 5, status: 'retrying' }));
    recorder.record(event('cancelled', { seq: 6, status: 'cancelled' }));
    recorder.record(event('progress', { seq: 7, status: 'running', progress: 50 }));
    recorder.record(event('progress', { seq: 7, status: 'running', progress: 50 }));
    expect(Object.values(await values(registry, 'switchyard_jobs_retried_total'))).toEqual([1]);
    expect(Object.values(await values(registry, 'switchyard_jobs_cancelled_total'))).toEqual([1]);
    expect(await values(registry, 'switchyard_metrics_events_total')).toEqual({
      'switchyard_metrics_events_total{event=retrying}': 1,
      'switchyard_metrics_events_total{event=cancelled}': 1,
      'switchyard_metrics_events_total{event=progress}': 2,
    });
  });

  it('reports queues named by events, bounded', () => {
    const small = new EventRecorder(createJobMetrics(new Registry()), { rememberJobs: 10, maxQueues: 2 });
    for (const queue of ['default', 'audio', 'video', 'bad queue!']) {
      small.record(event('cancelled', { jobId: queue, queue, status: 'cancelled' }));
    }
    expect(small.queues()).toEqual(['default', 'audio']);
  });
});

describe('BoundedSet', () => {
  it('forgets the oldest keys beyond its capacity', () => {
    const set = new BoundedSet(2);
    expect(set.add('a')).toBe(true);
    expect(set.add('a')).toBe(false);
    set.add('b');
    set.add('c');
    expect([set.has('a'), set.has('b'), set.has('c'), set.size]).toEqual([false, true, true, 2]);
  });
});

describe('SeenEvents', () => {
  it('remembers each (jobId, seq) and each wait once, for low and high seqs alike', () => {
    const seen = new SeenEvents(10);
    for (const seq of [1, 2, 29, 30, 10002, 10003, 20004, 2.5]) {
      expect(seen.addEvent('a', seq)).toBe(true);
      expect(seen.addEvent('a', seq)).toBe(false);
      expect(seen.addEvent('b', seq)).toBe(true);
    }
    expect(seen.addWait('a')).toBe(true);
    expect(seen.addWait('a')).toBe(false);
    expect(seen.addEvent('a', 3)).toBe(true);
    expect(seen.addWait('c')).toBe(true);
    expect(seen.addEvent('c', 1)).toBe(true);
    expect(seen.size).toBe(3);
  });

  it('keeps telling repeats apart when one job has more higher seqs than it lists', () => {
    const seen = new SeenEvents(10);
    const seqs = Array.from({ length: 40 }, (_, i) => 10002 + i * 10000);
    expect(seqs.map((seq) => seen.addEvent('a', seq))).toEqual(seqs.map(() => true));
    expect(seqs.map((seq) => seen.addEvent('a', seq))).toEqual(seqs.map(() => false));
  });

  it('tells repeats apart across retries, whatever order the seqs come in', () => {
    const seen = new SeenEvents(10);
    // A job retried twice, its events shuffled as redeliveries could: every seq once, each repeat refused.
    const seqs = [10002, 1, 0, -3, 2, 20003, 10003, 30004, 20004, 2 ** 23, 2 ** 23 + 5, 29, 30, 40_000_001];
    for (const seq of seqs) {
      expect(seen.addEvent('a', seq)).toBe(true);
      for (const earlier of seqs.slice(0, seqs.indexOf(seq) + 1))
        expect(seen.addEvent('a', earlier)).toBe(false);
    }
    expect(seen.addWait('a')).toBe(true);
    expect(seen.addWait('a')).toBe(false);
    for (const seq of [3, 10004, 2 ** 23 + 1]) expect(seen.addEvent('a', seq)).toBe(true);
    expect(seen.addEvent('b', 20003)).toBe(true);
    expect(seen.addWait('b')).toBe(true);
    expect(seen.addEvent('b', 20003)).toBe(false);
    expect(seen.addEvent('b', 1)).toBe(true);
    expect(seen.addWait('b')).toBe(false);
    expect(seen.size).toBe(2);
  });

  it('forgets the oldest jobs beyond its capacity', () => {
    const seen = new SeenEvents(2);
    seen.addEvent('a', 1);
    seen.addEvent('b', 1);
    seen.addEvent('a', 2);
    seen.addEvent('c', 1);
    expect(seen.size).toBe(2);
    expect(seen.addEvent('a', 1)).toBe(true);
    expect(seen.addEvent('c', 1)).toBe(false);
  });
});
