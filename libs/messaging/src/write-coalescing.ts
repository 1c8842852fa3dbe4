import type { Writable } from 'node:stream';

const COALESCING = Symbol('switchyard.coalesceWritesPerTick');

/**
 * Corks `stream` on the first write of a tick and uncorks it on process.nextTick, so everything
 * written in one pass leaves in a single writev.
 *
 * amqplib writes every frame (publish, ack, method, heartbeat) with its own write() on a socket
 * opened with noDelay: without this each is its own system call and TCP packet, in the service and
 * in the broker. end() uncorks by itself, so a close is never held back.
 */
export function coalesceWritesPerTick(stream: Writable): void {
  const marked = stream as Writable & { [COALESCING]?: true };
  if (marked[COALESCING]) return;
  marked[COALESCING] = true;
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  let corked = false;
  const uncork = (): void => {
    corked = false;
    // Harmless after end() (which uncorks by itself) or destroy() (which drops the buffer).
    stream.uncork();
  };
  stream.write = ((...args: unknown[]): boolean => {
    if (!corked && !stream.writableEnded && !stream.destroyed) {
      corked = true;
      stream.cork();
      process.nextTick(uncork);
    }
    return write(...args);
  }) as Writable['write'];
}

/** coalesceWritesPerTick on an amqplib connection's socket. */
export function coalesceConnectionWrites(model: { connection: unknown }): void {
  const socket = (model.connection as { stream?: unknown }).stream;
  if (isWritable(socket)) coalesceWritesPerTick(socket);
}

function isWritable(stream: unknown): stream is Writable {
  const candidate = stream as Partial<Writable> | null | undefined;
  return (
    typeof candidate?.write === 'function' &&
    typeof candidate.cork === 'function' &&
    typeof candidate.uncork === 'function'
  );
}
