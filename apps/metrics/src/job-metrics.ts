import { counter, histogram, METRIC_PREFIX } from '@switchyard/observability';
import { Gauge, type Counter, type Histogram, type Registry } from 'prom-client';

// SPEC §8 job and queue metrics, produced only by the metrics service. Names and labels are what
// the dashboard and the alert rules read (infrastructure/metrics.txt): never rename them.

/** From a no-op job (milliseconds) to the longest timeout a type usually gets (an hour). */
export const DURATION_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
];
/** Start latency targets are milliseconds (SPEC §10); a backlog makes it minutes. */
export const WAIT_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600,
];

export interface JobMetrics {
  submitted: Counter<'type' | 'queue' | 'priority'>;
  tenantSubmitted: Counter<'tenant'>;
  requeued: Counter<'type'>;
  completed: Counter<'type'>;
  failed: Counter<'type' | 'code'>;
  cancelled: Counter<'type'>;
  retried: Counter<'type'>;
  deadLettered: Counter<'type'>;
  duration: Histogram<'type'>;
  wait: Histogram<'type'>;
  events: Counter<'event'>;
  eventsDropped: Counter<'reason'>;
}

export interface QueueMetrics {
  depth: Gauge<'queue' | 'state'>;
  level: Gauge<'queue'>;
  paused: Gauge<'queue'>;
  consumers: Gauge<'queue'>;
  oldestAge: Gauge<'queue'>;
  /** Flow control: jobs of each concurrency key in use (released, running, retrying). */
  concurrencyInUse: Gauge<'key'>;
  /** Provider rate budgets: holds a provider's 429 set on each rate key (fleet-wide, from PostgreSQL). */
  rateLimitHolds: Counter<'key'>;
  pollErrors: Counter<'source'>;
}

const name = (suffix: string) => `${METRIC_PREFIX}${suffix}`;

export function createJobMetrics(registry: Registry): JobMetrics {
  const metrics: JobMetrics = {
    submitted: counter(
      registry,
      name('jobs_submitted_total'),
      'Jobs accepted (job.queued with seq 1), by type, queue and priority',
      ['type', 'queue', 'priority'],
    ),
    tenantSubmitted: counter(registry, name('tenant_jobs_submitted_total'), 'Jobs accepted, by tenant', [
      'tenant',
    ]),
    requeued: counter(
      registry,
      name('jobs_requeued_total'),
      'Jobs put back in their queue after they had been accepted (retry, DLQ replay, worker hand-back)',
      ['type'],
    ),
    completed: counter(registry, name('jobs_completed_total'), 'Jobs that ended completed', ['type']),
    failed: counter(registry, name('jobs_failed_total'), 'Jobs that ended failed, by error code', [
      'type',
      'code',
    ]),
    cancelled: counter(registry, name('jobs_cancelled_total'), 'Jobs that ended cancelled', ['type']),
    retried: counter(registry, name('jobs_retried_total'), 'Attempts that failed and were scheduled again', [
      'type',
    ]),
    deadLettered: counter(
      registry,
      name('jobs_dead_lettered_total'),
      'Jobs moved to the dead-letter queue (every failed job)',
      ['type'],
    ),
    duration: histogram(
      registry,
      name('job_duration_seconds'),
      'Run time of the final attempt of completed jobs (finishedAt - startedAt)',
      ['type'],
      DURATION_BUCKETS,
    ),
    wait: histogram(
      registry,
      name('job_wait_seconds'),
      'Time from acceptance to the start of the first attempt (startedAt - createdAt)',
      ['type'],
      WAIT_BUCKETS,
    ),
    events: counter(
      registry,
      name('metrics_events_total'),
      'Job lifecycle events the metrics service consumed and applied, by event',
      ['event'],
    ),
    eventsDropped: counter(
      registry,
      name('metrics_events_dropped_total'),
      'Events the metrics service did not apply: a repeated (jobId, seq) or not a job CloudEvent',
      ['reason'],
    ),
  };
  for (const reason of ['duplicate', 'invalid']) metrics.eventsDropped.inc({ reason }, 0);
  return metrics;
}

/** Gauges are set by the queue poller; `collectOldestAge` runs at every scrape. */
export function createQueueMetrics(
  registry: Registry,
  collectOldestAge: (gauge: Gauge<'queue'>) => void,
): QueueMetrics {
  const metrics: QueueMetrics = {
    depth: new Gauge({
      name: name('queue_depth'),
      help: 'Jobs per queue and state: ready (in the broker queue); backlog (queued, not released), released (in RabbitMQ, not started), scheduled, running and retrying (PostgreSQL)',
      labelNames: ['queue', 'state'],
      registers: [registry],
    }),
    level: new Gauge({
      name: name('queue_level'),
      help: 'Queued jobs (backlog + released) against QUEUE_WARN_DEPTH and QUEUE_MAX_DEPTH: 0 ok, 1 warning, 2 critical',
      labelNames: ['queue'],
      registers: [registry],
    }),
    paused: new Gauge({
      name: name('queue_paused'),
      help: 'Whether the queue is paused (1): it accepts jobs but releases none',
      labelNames: ['queue'],
      registers: [registry],
    }),
    consumers: new Gauge({
      name: name('queue_consumers'),
      help: 'Consumers (worker channels) attached to the queue',
      labelNames: ['queue'],
      registers: [registry],
    }),
    oldestAge: new Gauge({
      name: name('queue_oldest_age_seconds'),
      help: 'Age of the oldest queued job of the queue (0 when none is queued)',
      labelNames: ['queue'],
      registers: [registry],
      collect() {
        collectOldestAge(this);
      },
    }),
    concurrencyInUse: new Gauge({
      name: name('concurrency_in_use'),
      help: 'Jobs of each concurrency key released to a worker, running or retrying (per-key concurrency)',
      labelNames: ['key'],
      registers: [registry],
    }),
    rateLimitHolds: counter(
      registry,
      name('rate_limit_holds_total'),
      'Holds of each rate key after a provider answered 429 (every worker’s, counted in PostgreSQL)',
      ['key'],
    ),
    pollErrors: counter(
      registry,
      name('queue_poll_errors_total'),
      'Queue polls that failed, by source (rabbitmq or postgres); the affected series are withdrawn',
      ['source'],
    ),
  };
  for (const source of ['rabbitmq', 'postgres']) metrics.pollErrors.inc({ source }, 0);
  return metrics;
}
