// Helpers for this library's integration specs; not exported from the library.
import { randomUUID } from 'node:crypto';
import { createServer, connect as connectTcp, type AddressInfo, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { amqpNames, type AmqpNames } from '@switchyard/contracts';
import { connect } from 'amqplib';
import pino, { type Logger } from 'pino';
import { topologyNames } from './topology';

export const AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';

export function testPrefix(): string {
  return `sytest_${randomUUID().slice(0, 8)}`;
}

/** A pino logger whose JSON lines are kept in memory. */
export function memoryLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      raw.push(chunk.toString('utf8'));
      callback();
    },
  });
  const logger = pino({ level: 'debug', messageKey: 'msg' }, stream);
  return {
    logger,
    lines: () =>
      raw
        .join('')
        .split('\n')
        .filter((line) => line.length > 0)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

/** Polls until check returns a value other than undefined/false, or fails at the deadline. */
export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Collects what a consumer receives, so a test can wait for the nth item. */
export class Inbox<T> {
  readonly items: T[] = [];
  push(item: T): void {
    this.items.push(item);
  }
  async waitForCount(count: number, timeoutMs = 10_000): Promise<T[]> {
    return waitFor(
      () => this.items.length >= count && this.items,
      `${count} messages (have ${this.items.length})`,
      timeoutMs,
    );
  }
}

/** Deletes the prefix's topology plus any extra queues and exchanges a test declared. */
export async function deleteTestTopology(
  prefix: string,
  extra: { queues?: string[]; exchanges?: string[]; workQueues?: string[] } = {},
): Promise<void> {
  const names: AmqpNames = amqpNames(prefix);
  const { exchanges, queues } = topologyNames(names, extra.workQueues ?? []);
  const model = await connect(AMQP_URL);
  model.on('error', () => undefined);
  try {
    for (const queue of [...queues, ...(extra.queues ?? [])]) {
      const channel = await model.createChannel();
      channel.on('error', () => undefined);
      await channel.deleteQueue(queue);
      await channel.close();
    }
    for (const exchange of [...exchanges, ...(extra.exchanges ?? [])]) {
      const channel = await model.createChannel();
      channel.on('error', () => undefined);
      await channel.deleteExchange(exchange);
      await channel.close();
    }
  } finally {
    await model.close();
  }
}

/**
 * A TCP relay to the broker that a test can cut (a network failure as the client sees it) and
 * take down (broker unreachable) without touching the broker.
 */
export class BrokerRelay {
  private server?: Server;
  /** client socket → its upstream socket to the broker */
  private readonly pairs = new Map<Socket, Socket>();
  private readonly held = new Set<Socket>();
  port = 0;

  constructor(private readonly target = { host: '127.0.0.1', port: 5672 }) {}

  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connectTcp(this.target.port, this.target.host);
      this.pairs.set(client, upstream);
      client.on('error', () => undefined);
      upstream.on('error', () => undefined);
      client.on('close', () => {
        this.pairs.delete(client);
        if (!this.held.has(upstream)) upstream.destroy();
      });
      upstream.on('close', () => {
        this.held.delete(upstream);
        client.destroy();
      });
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** Drops every relayed connection; new ones are still accepted. */
  cut(): void {
    for (const [client, upstream] of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
  }

  /**
   * Drops the client side only: the broker keeps the old connection (and its exclusive queues)
   * until releaseHeld(), as after a network failure it has not noticed yet.
   */
  cutClientSide(): void {
    for (const [client, upstream] of this.pairs) {
      upstream.unpipe(client);
      this.held.add(upstream);
      client.destroy();
    }
  }

  releaseHeld(): void {
    for (const upstream of this.held) upstream.destroy();
  }

  /** Drops every connection and refuses new ones until start() is called again. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.cut();
    this.releaseHeld();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
