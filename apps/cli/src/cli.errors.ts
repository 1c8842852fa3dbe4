/** Exit codes of the `switchyard` command; scripts branch on them, so keep them stable. */
export const EXIT = {
  ok: 0,
  /** The API answered with an error, a check failed, or something unexpected happened. */
  error: 1,
  /** Bad flags or arguments, unreadable payload or config file. */
  usage: 2,
  /** A watched job ended `failed`. */
  jobFailed: 3,
  /** A watched job ended `cancelled`. */
  jobCancelled: 4,
  /** The API could not be reached at all. */
  unreachable: 5,
  /** Ctrl-C while watching; the job itself keeps running. */
  interrupted: 130,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports as one line (plus hints) and turns into an exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.error,
    readonly hints: readonly string[] = [],
  ) {
    super(message);
  }
}

export class UsageError extends CliError {
  constructor(message: string, hints: readonly string[] = []) {
    super(message, EXIT.usage, hints);
  }
}

// Node's own errors (fs, net, fetch) come from another realm under Jest, so these helpers test the
// shape of an error rather than `instanceof Error`.

function prop(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

export function errorMessage(error: unknown): string {
  const message = prop(error, 'message');
  return typeof message === 'string' ? message : String(error);
}

export function errorCode(error: unknown): string | undefined {
  const code = prop(error, 'code');
  return typeof code === 'string' ? code : undefined;
}

export function toError(error: unknown, fallback: string): Error {
  if (typeof prop(error, 'message') === 'string') return error as Error;
  return new Error(fallback);
}

/** Why a connection failed, in the words an operator greps for (ECONNREFUSED, ENOTFOUND…). */
export function networkErrorReason(error: unknown, timeoutMs?: number): string {
  if (prop(error, 'name') === 'TimeoutError') {
    return timeoutMs === undefined ? 'timed out' : `no answer within ${timeoutMs} ms`;
  }
  // fetch (undici) hides the socket error in `cause`.
  const cause = prop(error, 'cause');
  const code = errorCode(cause) ?? errorCode(error);
  if (code !== undefined) return code;
  const causeMessage = prop(cause, 'message');
  return typeof causeMessage === 'string' && causeMessage !== '' ? causeMessage : errorMessage(error);
}
