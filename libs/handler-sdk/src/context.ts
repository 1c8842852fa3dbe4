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
  artifacts: ArtifactWriter;
}
