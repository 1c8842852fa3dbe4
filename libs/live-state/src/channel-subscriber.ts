import type { Redis } from 'ioredis';

export type ChannelHandler = (message: string) => void;

/**
 * One Redis connection in subscriber mode shared by everything in a process that listens to
 * pub/sub (SSE fan-out, API-key revocations): hundreds of SSE clients cost one connection, not
 * one each. ioredis resubscribes by itself after a reconnect; `onReconnect` listeners hear about
 * it so they can catch up on what was published while the connection was down.
 */
export class ChannelSubscriber {
  private readonly handlers = new Map<string, Set<ChannelHandler>>();
  private readonly reconnectListeners = new Set<() => void>();
  private readonly pending = new Map<string, Promise<unknown>>();

  constructor(private readonly redis: Redis) {
    redis.on('message', (channel: string, message: string) => {
      const handlers = this.handlers.get(channel);
      if (!handlers) return;
      for (const handler of handlers) handler(message);
    });
    let connectedBefore = false;
    redis.on('ready', () => {
      if (connectedBefore) for (const listener of this.reconnectListeners) listener();
      connectedBefore = true;
    });
  }

  /**
   * Adds a handler; the first handler of a channel subscribes, and the promise resolves once
   * Redis confirmed it (so nothing published afterwards is missed).
   */
  async subscribe(channel: string, handler: ChannelHandler): Promise<void> {
    let handlers = this.handlers.get(channel);
    if (!handlers) {
      handlers = new Set();
      this.handlers.set(channel, handlers);
      this.pending.set(
        channel,
        this.redis.subscribe(channel).catch((error: unknown) => {
          this.handlers.delete(channel);
          this.pending.delete(channel);
          throw error;
        }),
      );
    }
    handlers.add(handler);
    await this.pending.get(channel);
  }

  /** Removes a handler; the last one of a channel unsubscribes. */
  async unsubscribe(channel: string, handler: ChannelHandler): Promise<void> {
    const handlers = this.handlers.get(channel);
    if (!handlers?.delete(handler) || handlers.size > 0) return;
    this.handlers.delete(channel);
    this.pending.delete(channel);
    await this.redis.unsubscribe(channel);
  }

  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  isReady(): boolean {
    return this.redis.status === 'ready';
  }

  close(): void {
    this.handlers.clear();
    this.redis.disconnect();
  }
}
