export type MessagingErrorCode = 'not_connected' | 'closed' | 'nacked' | 'channel_closed' | 'unroutable';

export class MessagingError extends Error {
  constructor(
    readonly code: MessagingErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MessagingError';
  }
}

/** Errors that another attempt cannot fix: refused access, or topology that contradicts the broker's. */
export function isPermanentError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 403 || code === 406;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Waits for `promises` to settle, or `timeoutMs`, whichever comes first. */
export async function settledWithin(promises: Promise<unknown>[], timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  await Promise.race([Promise.allSettled(promises), timeout]);
  clearTimeout(timer);
}
