/** Why an attempt's AbortSignal fired; decides how the attempt ends. */
export class AbortReason extends Error {
  constructor(
    readonly code: 'timeout' | 'cancelled' | 'lease_lost' | 'shutdown',
    message: string,
  ) {
    super(message);
  }
}

/**
 * One attempt's abort, as an AbortController would do it, except that the handler's AbortSignal is
 * made only when the handler reads it (`ctx.signal`): making a signal costs microseconds of CPU
 * (Node's EventTarget), several percent of a no-op job's worker time, and most short handlers never
 * look at it. The runner's own reactions are plain callbacks (`onAbort`). Once aborted, a signal
 * made later is aborted with the same reason.
 */
export class AttemptAbort {
  private controller: AbortController | undefined;
  private fired: { reason: AbortReason } | undefined;
  private listeners: ((reason: AbortReason) => void)[] | undefined;

  get aborted(): boolean {
    return this.fired !== undefined;
  }

  /** The reason given to abort(); undefined while not aborted. */
  get reason(): AbortReason | undefined {
    return this.fired?.reason;
  }

  /** The handler's signal (made on first use). */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.fired) this.controller.abort(this.fired.reason);
    }
    return this.controller.signal;
  }

  /** Aborts once (later calls change nothing): the runner's callbacks first, then the signal's listeners. */
  abort(reason: AbortReason): void {
    if (this.fired) return;
    this.fired = { reason };
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners) for (const listener of listeners) listener(reason);
    this.controller?.abort(reason);
  }

  /** Calls `listener` once when the attempt is aborted (now, if it already is); returns its removal. */
  onAbort(listener: (reason: AbortReason) => void): () => void {
    if (this.fired) {
      listener(this.fired.reason);
      return () => undefined;
    }
    (this.listeners ??= []).push(listener);
    return () => {
      const i = this.listeners?.indexOf(listener) ?? -1;
      if (i >= 0) this.listeners?.splice(i, 1);
    };
  }
}

/**
 * Waits for a handler, but once the attempt is aborted gives it only `graceMs` to stop. A handler
 * that ignores its signal is abandoned: its late result or error is discarded.
 */
export function abandonAfterAbort<T>(work: Promise<T>, abort: AttemptAbort, graceMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const off = abort.onAbort((reason) => {
      timer = setTimeout(() => reject(reason), graceMs);
    });
    // The abandoned handler may still settle later; its outcome then changes nothing.
    work.then(
      (value) => {
        clearTimeout(timer);
        off();
        resolve(value);
      },
      // Whatever the handler threw, as awaiting it would have thrown it.
      (error: Error) => {
        clearTimeout(timer);
        off();
        reject(error);
      },
    );
  });
}
