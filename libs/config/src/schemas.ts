import { availableParallelism } from 'node:os';
import { Type, type Static, type TProperties } from '@sinclair/typebox';

// Every variable of SPEC §9 with its default. Keys are the environment names on purpose: the
// typed object reads the same as `.env.example` and docs/operations.md.

const url = (scheme: string, fallback: string) =>
  Type.String({
    pattern: `^(${scheme})://`,
    default: fallback,
    description: `a ${scheme.split('|')[0]}:// URL`,
  });
const port = (fallback: number) => Type.Integer({ minimum: 1, maximum: 65535, default: fallback });
const positiveInt = (fallback: number, maximum?: number) =>
  Type.Integer({ minimum: 1, default: fallback, ...(maximum === undefined ? {} : { maximum }) });

/**
 * The largest timeout Switchyard accepts: `jobs.timeout_ms` is a PostgreSQL `int` and Node's
 * `setTimeout` fires at once for a delay above 2^31-1 ms (about 24.8 days).
 */
export const MAX_TIMEOUT_LIMIT_MS = 2147483647;
const timeoutMs = (fallback: number) => positiveInt(fallback, MAX_TIMEOUT_LIMIT_MS);

/**
 * OpenTelemetry tracing (the standard variables). Neither endpoint set, or OTEL_SDK_DISABLED=true:
 * tracing is off and costs nothing. The exporter itself reads the endpoints and the other
 * OTEL_EXPORTER_OTLP_* variables (headers, protocol, timeout), the SDK OTEL_TRACES_SAMPLER /
 * OTEL_RESOURCE_ATTRIBUTES.
 */
export const TracingEnv = {
  /** OTLP/HTTP base URL, e.g. http://jaeger:4318 (spans go to `<endpoint>/v1/traces`). */
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(
    Type.String({ pattern: '^https?://', description: 'an http:// or https:// URL' }),
  ),
  /** The traces URL itself, used as given (no `/v1/traces` appended); wins over the base URL. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: Type.Optional(
    Type.String({ pattern: '^https?://', description: 'an http:// or https:// URL' }),
  ),
  /** `true` (any case) turns tracing off whatever the endpoints say; any other value is false. */
  OTEL_SDK_DISABLED: Type.Optional(Type.String({ maxLength: 20 })),
  /** service.name of the spans; default `switchyard-<service>`. */
  OTEL_SERVICE_NAME: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
} satisfies TProperties;

export const CommonEnv = {
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], {
    default: 'development',
  }),
  DATABASE_URL: url('postgres|postgresql', 'postgres://postgres@127.0.0.1:5432/switchyard'),
  /**
   * One RabbitMQ node, or several separated by commas (the nodes of one cluster): a service
   * connects to one of them and, when that node goes away, to the next.
   */
  AMQP_URL: Type.String({
    pattern: '^amqps?://[^,\\s]+(\\s*,\\s*amqps?://[^,\\s]+)*$',
    default: 'amqp://guest:guest@127.0.0.1:5672',
    description: 'an amqp:// URL, or a comma-separated list of them (the nodes of a cluster)',
  }),
  /**
   * How the durable queues are declared: `classic` (one node) or `quorum` (replicated over a
   * cluster; docs/scaling.md). Every service of one installation must use the same value.
   */
  AMQP_QUEUE_TYPE: Type.Union([Type.Literal('classic'), Type.Literal('quorum')], { default: 'classic' }),
  AMQP_PREFIX: Type.String({ pattern: '^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$', default: 'switchyard' }),
  AMQP_PREFETCH: positiveInt(32, 1000),
  /**
   * Cap of `<prefix>.dlq` (x-max-length, overflow drop-head: the oldest message goes); 0 leaves it
   * unbounded. Applied when the queue is created; an existing queue keeps its arguments.
   */
  DLQ_MAX_LENGTH: Type.Integer({ minimum: 0, default: 100000 }),
  REDIS_URL: url('redis|rediss', 'redis://127.0.0.1:6379'),
  REDIS_PREFIX: Type.String({ minLength: 1, maxLength: 64, default: 'sy:' }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
    { default: 'info' },
  ),
  DB_POOL_SIZE: positiveInt(10, 200),
  ...TracingEnv,
} satisfies TProperties;

/** Job timeouts: the gateway fills in and bounds a submission's, the worker enforces them. */
const JobTimeoutEnv = {
  DEFAULT_TIMEOUT_MS: timeoutMs(600000),
  MAX_TIMEOUT_MS: timeoutMs(86400000),
} satisfies TProperties;

/** Job files, shared by the gateway (uploads, result downloads) and the workers (inputs, artifacts). */
const JobFilesEnv = {
  ARTIFACTS_DIR: Type.String({ minLength: 1, default: './data/artifacts' }),
  MEDIA_ROOT: Type.String({ minLength: 1, default: './data/media' }),
  /**
   * Uploaded input files (`POST /files`), one file per id: `<UPLOADS_DIR>/<fileId>`; `audio.analyze`
   * finds its `{fileId}` inputs there.
   */
  UPLOADS_DIR: Type.String({ minLength: 1, default: './data/uploads' }),
} satisfies TProperties;

export const GatewayEnv = {
  ...CommonEnv,
  GATEWAY_PORT: port(3000),
  /**
   * The address the gateway listens on. Unset: 127.0.0.1 outside production (where the documented
   * development admin key works), 0.0.0.0 in production. See gatewayListenHost.
   */
  GATEWAY_HOST: Type.Optional(Type.String({ minLength: 1 })),
  ADMIN_API_KEY: Type.Optional(Type.String({ minLength: 16 })),
  RATE_LIMIT_WRITE_PER_MIN: positiveInt(600),
  RATE_LIMIT_READ_PER_MIN: positiveInt(3000),
  RATE_LIMIT_ANON_PER_MIN: positiveInt(60),
  RATE_LIMIT_BURST: positiveInt(60),
  TENANT_MAX_ACTIVE_JOBS: positiveInt(1000),
  /** `scheduled` jobs (runAt/delayMs) one tenant may hold; they do not count as active. */
  TENANT_MAX_SCHEDULED_JOBS: positiveInt(100000),
  /** Schedules one tenant may have (429 `tenant_quota_exceeded` past it). */
  TENANT_MAX_SCHEDULES: positiveInt(1000),
  QUEUE_MAX_DEPTH: positiveInt(10000),
  QUEUE_WARN_DEPTH: positiveInt(8000),
  /** The workers' WORKER_CONCURRENCY: free slots per work-queue consumer, for wait estimates. */
  WORKER_CONCURRENCY: positiveInt(8, 1000),
  BODY_LIMIT_BYTES: positiveInt(1048576),
  UPLOAD_MAX_BYTES: positiveInt(20971520),
  BATCH_MAX_ITEMS: positiveInt(100, 10000),
  /** Jobs one `POST /flows` may create (SPEC §11). */
  FLOW_MAX_JOBS: positiveInt(500, 10000),
  DEDUP_WINDOW_MS: Type.Integer({ minimum: 0, default: 10000 }),
  IDEMPOTENCY_TTL_S: positiveInt(86400),
  RESULT_CACHE_TTL_S: positiveInt(2592000),
  SSE_KEEPALIVE_MS: positiveInt(15000),
  /** SSE streams one tenant may hold open at once, counted across every gateway (Redis). */
  SSE_MAX_STREAMS_PER_TENANT: positiveInt(1000, 1000000),
  OUTBOX_MAX_DELAY_MS: positiveInt(5000),
  /**
   * Released-but-unclaimed dispatch messages the dispatcher keeps per queue in RabbitMQ. 0 =
   * automatic: max(2 × consumers × prefetch, 2 × prefetch), from the work queue's consumer count
   * and the workers' prefetch (WORKER_CONCURRENCY per consumer), or 100 ms of the queue's start
   * rate when that is more (at most 512).
   */
  DISPATCH_WINDOW: Type.Integer({ minimum: 0, default: 0 }),
  /** A queued job's effective priority rises one level per this many ms waited, up to 9; 0 = off. */
  PRIORITY_AGING_MS: Type.Integer({ minimum: 0, default: 60000 }),
  /** A released job that no worker claimed within this time is released again. */
  REDISPATCH_AFTER_MS: positiveInt(30000),
  /**
   * Most jobs of a short job type one work message carries (batched dispatch), at most the
   * workers' prefetch (WORKER_CONCURRENCY); long types always go one per message; 1 = off.
   */
  DISPATCH_BATCH_MAX: positiveInt(16, 16),
  /**
   * While the gateway's inserts keep releasing their own jobs (the fast path), their work messages
   * go out at most once per this many ms, merged per queue, priority and type up to the type's
   * batch size; one after a quiet spell goes out at once. 0 = every insert's at once.
   */
  DISPATCH_LINGER_MS: Type.Integer({ minimum: 0, maximum: 1000, default: 25 }),
  /**
   * The gateway vacuums `jobs` and `outbox` when their dead (or newly inserted) rows pass this many
   * plus 2 % of their live rows, analyzing too once 5 % changed; 0 = off (autovacuum alone).
   */
  VACUUM_DEAD_ROWS: Type.Integer({ minimum: 0, default: 5000 }),
  /** Intake messages (`<prefix>.intake`) the gateway handles at once: the consumer's prefetch. */
  INTAKE_PREFETCH: positiveInt(32, 1000),
  /** First delay before an intake message that met a transient failure is requeued; doubles, capped. */
  INTAKE_RETRY_DELAY_MS: positiveInt(1000, 30000),
  ...JobFilesEnv,
  ...JobTimeoutEnv,
  // Webhooks and browser access (docs/webhooks.md).
  /** Allow webhook URLs that point at private, loopback or link-local addresses (tests, internal receivers). */
  WEBHOOK_ALLOW_PRIVATE: Type.Boolean({ default: false }),
  /** First retry delay of a failed delivery; doubles per attempt (±10 %), capped at one hour. */
  WEBHOOK_RETRY_BASE_MS: positiveInt(5000, 3600000),
  /** A failed delivery is retried for this long, then given up; an endpoint failing this long is disabled. */
  WEBHOOK_RETRY_WINDOW_MS: positiveInt(86400000),
  /** Per-attempt timeout (connect to last byte). */
  WEBHOOK_TIMEOUT_MS: positiveInt(10000, 60000),
  /** Deliveries one gateway sends at once. */
  WEBHOOK_CONCURRENCY: positiveInt(16, 256),
  /** How often a gateway looks for deliveries that became due (retries); new ones are sent at once. */
  WEBHOOK_POLL_MS: positiveInt(500, 60000),
  /**
   * Origins (e.g. `https://app.example.com`) allowed to call the job- and flow-token routes from a browser
   * (CORS): comma-separated; empty (the default) allows none.
   */
  CORS_ORIGINS: Type.String({ default: '' }),
  /**
   * A trace UI's page for one trace, with `{traceId}` where the id goes (e.g. Jaeger's
   * http://localhost:16686/trace/{traceId}): the console's job page links a traced job there.
   */
  TRACE_UI_URL: Type.Optional(
    Type.String({
      pattern: '^https?://[^\\s]*\\{traceId\\}',
      description: 'an http(s) URL containing {traceId}',
    }),
  ),
  /** Test-only fault switch (off by default): `crash_after_commit` exits between commit and publish. */
  FAULT_INJECT: Type.Optional(Type.Union([Type.Literal('crash_after_commit')])),
} satisfies TProperties;

export const WorkerEnv = {
  ...CommonEnv,
  WORKER_PORT: port(3001),
  WORKER_QUEUES: Type.String({ default: '', description: 'comma-separated queue names; empty = all' }),
  WORKER_CONCURRENCY: positiveInt(8, 1000),
  WORKER_ID: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  LEASE_MS: Type.Integer({ minimum: 1000, default: 30000 }),
  SHUTDOWN_GRACE_MS: Type.Integer({ minimum: 0, default: 30000 }),
  CANCEL_GRACE_MS: Type.Integer({ minimum: 0, default: 5000 }),
  ...JobTimeoutEnv,
  ...JobFilesEnv,
  /** A result whose JSON is larger than this is stored as an artifact rather than inline. */
  RESULT_INLINE_MAX_BYTES: positiveInt(65536, 1048576),
  /** Children one `ctx.spawn` may create (the continuation not counted). */
  FLOW_MAX_SPAWN: positiveInt(1000, 10000),
  /** Lines of `ctx.log` kept per job attempt; the rest are counted as dropped. */
  JOB_LOG_MAX_LINES: positiveInt(1000, 100000),
  /** A `ctx.log` message longer than this many characters is cut. */
  JOB_LOG_LINE_MAX_CHARS: positiveInt(2000, 65536),
  WORKER_HANDLER_MODULES: Type.String({ default: '', description: 'comma-separated module paths' }),
  PROVIDERS_FILE: Type.Optional(Type.String({ minLength: 1 })),
  /** Threads for CPU-heavy handler work (audio decoding, analysis, synthesis); default: one per CPU. */
  WORKER_CPU_THREADS: Type.Integer({
    minimum: 1,
    maximum: 256,
    default: Math.max(1, availableParallelism()),
  }),
} satisfies TProperties;

export const TrackerEnv = {
  ...CommonEnv,
  TRACKER_PORT: port(3002),
  JOB_RETENTION_DAYS: positiveInt(7, 36500),
  /** At most setTimeout's 2^31 - 1 ms (24.8 days). */
  CLEANUP_INTERVAL_MS: positiveInt(3600000, 2147483647),
  /** Retention removes purged jobs' artifacts and unreferenced uploads here (as the gateway and workers use them). */
  ARTIFACTS_DIR: Type.String({ minLength: 1, default: './data/artifacts' }),
  UPLOADS_DIR: Type.String({ minLength: 1, default: './data/uploads' }),
  OUTBOX_MAX_DELAY_MS: positiveInt(5000),
  TRACKER_BATCH_SIZE: positiveInt(500, 10000),
  TRACKER_FLUSH_MS: positiveInt(50, 10000),
  LIVE_TTL_S: positiveInt(604800),
  /** How often the sweeper looks for expired leases and overdue retries. */
  SWEEP_INTERVAL_MS: positiveInt(2000),
  /** A `retrying` job whose delayed message is this late is dispatched again. */
  RETRY_OVERDUE_MS: positiveInt(30000),
} satisfies TProperties;

export const MetricsEnv = {
  ...CommonEnv,
  METRICS_PORT: port(3003),
  QUEUE_POLL_MS: positiveInt(5000),
  QUEUE_WARN_DEPTH: positiveInt(8000),
  QUEUE_MAX_DEPTH: positiveInt(10000),
} satisfies TProperties;

export const GatewayConfigSchema = Type.Object(GatewayEnv);
export const WorkerConfigSchema = Type.Object(WorkerEnv);
export const TrackerConfigSchema = Type.Object(TrackerEnv);
export const MetricsConfigSchema = Type.Object(MetricsEnv);
export const CommonConfigSchema = Type.Object(CommonEnv);
export const TracingConfigSchema = Type.Object(TracingEnv);

export type CommonConfig = Static<typeof CommonConfigSchema>;
export type GatewayConfig = Static<typeof GatewayConfigSchema>;
export type WorkerConfig = Static<typeof WorkerConfigSchema>;
export type TrackerConfig = Static<typeof TrackerConfigSchema>;
export type MetricsConfig = Static<typeof MetricsConfigSchema>;
export type TracingConfig = Static<typeof TracingConfigSchema>;

/** Environment variable names a configuration file may point at (e.g. a provider's API key). */
const SECRET_VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Reads one secret named at run time (PROVIDERS_FILE names the variable that holds each
 * provider's key), so that code outside this library never touches `process.env`. Empty counts as
 * unset, as everywhere else in the configuration.
 */
export function readSecret(variable: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!SECRET_VARIABLE.test(variable)) throw new Error(`not an environment variable name: ${variable}`);
  const value = env[variable];
  return value === undefined || value === '' ? undefined : value;
}
