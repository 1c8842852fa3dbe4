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
}
