import type { Logger } from 'pino';

export interface ArtifactRef {
  jobId: string;
  name: string;
  contentType: string;
  size: number;
  sha256: string;
}

/** Where a handler writes result bytes; the gateway streams them from `GET /jobs/{id}/result`. */
export interface ArtifactWriter {
  put(name: string, contentType: string, data: Buffer | AsyncIterable<Buffer>): Promise<ArtifactRef>;
}

/** One upstream job of a flow job, as its handler sees it (`ctx.dependencies[ref]`). */
export interface DependencyResult {
  jobId: string;
  /** Its ref in the flow (the key of `ctx.dependencies`). */
  ref: string;
  type: string;
  /** `completed`, or `failed`/`cancelled` for a job that runs anyway (`onDependencyFailure: "run"`). */
  status: string;
  /** Its inline result (null when it did not complete). */
  result: unknown;
  /** Where its artifact downloads from (`/api/v1/jobs/{id}/result`), or null without one. */
  resultUrl: string | null;
  /** Its artifact, or null without one. */
  artifact: ArtifactRef | null;
}

/** A job a handler spawns: a `POST /jobs` body (type, payload, priority, …), optionally named. */
export interface SpawnedJob {
  type: string;
  payload: Record<string, unknown>;
  /** Its ref in the flow; default `<parent ref>.<index>` (the continuation: `<parent ref>.continuation`). */
  ref?: string;
  priority?: number | string;
  timeoutMs?: number;
  maxAttempts?: number;
  metadata?: Record<string, unknown>;
}

/** What `ctx.spawn` created (or found, when an earlier run of the handler had spawned them). */
export interface SpawnResult {
  flowId: string;
  children: string[];
  continuation: string | null;
}
/** `ctx.log`: lines stored with the job (GET /jobs/{id}/logs), bounded per attempt. */
export interface JobLog {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/**
 * Measured units of work, added to the job's usage: `tokens_in`, `tokens_out`, `gpu_seconds`,
 * `audio_seconds`, `requests`, `cost_usd`, or any lowercase `snake_case` unit. Amounts add up
 * over calls; negative or non-finite amounts are ignored.
 */
export type UsageUnits = Record<string, number>;

export interface JobContext<P = Record<string, unknown>> {
  jobId: string;
  tenant: string;
  /** 1 on the first run. */
  attempt: number;
  maxAttempts: number;
  payload: P;
  /** Fires on cancel, timeout and worker shutdown; handlers should stop soon after. */
  signal: AbortSignal;
  /** Reports progress 0–100 with an optional pipeline step and message. */
  progress(percent: number, step?: string, message?: string): void;
  logger: Logger;
  /** Lines for the job's own log (the service log gets `logger`'s). */
  log: JobLog;
  /** Records measured usage for the ledger (`GET /usage`) and the tenant's budgets. */
  usage(units: UsageUnits): void;
  artifacts: ArtifactWriter;
  /**
   * A flow job's finished dependencies by ref: inline result and artifact reference of each
   * (empty outside flows).
   */
  dependencies: Readonly<Record<string, DependencyResult>>;
  /**
   * A local path of the artifact of dependency `ref`, for a handler that reads it as its input
   * file; throws a PermanentError (`invalid_payload`) when `ref` is no dependency with an artifact.
   */
  dependencyFile(ref: string): Promise<string>;
  /**
   * Creates child jobs (at most FLOW_MAX_SPAWN) and, optionally, a continuation that depends on all
   * of them and reads their results as its ctx.dependencies. Calling it again in a re-run of the
   * same job (after a worker was lost) returns the children of the first call: none is created twice.
   * The handler usually returns `{ result: spawned }`.
   */
  spawn(children: SpawnedJob[], options?: { continuation?: SpawnedJob }): Promise<SpawnResult>;
}
