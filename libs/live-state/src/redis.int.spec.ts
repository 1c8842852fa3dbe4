import { randomUUID } from 'node:crypto';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Redis } from 'ioredis';
import { createRedis } from './redis';

const REDIS_HOST = '127.0.0.1';
const REDIS_PORT = 6379;
const REDIS_URL = `redis://${REDIS_HOST}:${REDIS_PORT}`;
// This file writes no keys; the prefix only names its connections in CLIENT LIST.
const prefix = `sytest:${randomUUID().slice(0, 8)}:`;

const opened: Redis[] = [];
function open(url: string, options: Parameters<typeof createRedis>[1] = {}): Redis {
  const redis = createRedis(url, options);
  opened.push(redis);
  return redis;
}

afterAll(async () => {
  // Only open connections: disconnecting a closed one leaves an ioredis timer behind.
  await Promise.all(opened.filter((redis) => redis.status === 'ready').map((redis) => redis.quit()));
});

describe('createRedis (real Redis)', () => {
  it('connects with the given connection name', async () => {
    const redis = open(REDIS_URL, { connectionName: `${prefix}named` });
    await expect(redis.ping()).resolves.toBe('PONG');
    await expect(redis.client('GETNAME')).resolves.toBe(`${prefix}named`);
  });

  it('reconnects by itself after the server kills its connection', async () => {
    const redis = open(REDIS_URL, { connectionName: `${prefix}victim` });
    const admin = open(REDIS_URL, { connectionName: `${prefix}admin` });
    await redis.ping();
    const id = await redis.client('ID');
    const readyAgain = waitForEvent(redis, 'ready');
    await admin.client('KILL', 'ID', String(id));
    await readyAgain;
    await expect(redis.ping()).resolves.toBe('PONG');
    expect(await redis.client('ID')).not.toBe(id);
  });

  it('fails commands fast while Redis is unreachable, without crashing, and recovers when it is back', async () => {
    // A TCP proxy in front of the real Redis stands in for a Redis that goes down and comes back.
    const proxy = new TcpProxy();
    const port = await proxy.start();
    const errors: Error[] = [];
    const redis = createRedis(`redis://${REDIS_HOST}:${port}`, {
      connectionName: `${prefix}proxied`,
      onError: (e) => errors.push(e),
    });
    try {
      await expect(redis.ping()).resolves.toBe('PONG');

      await proxy.stop();
      const started = Date.now();
      await expect(redis.ping()).rejects.toThrow(/max retries per request/i);
      expect(Date.now() - started).toBeLessThan(4000);
      expect(errors.length).toBeGreaterThan(0);

      const readyAgain = waitForEvent(redis, 'ready');
      await proxy.start(port);
      await readyAgain;
      await expect(redis.ping()).resolves.toBe('PONG');
    } finally {
      if (redis.status === 'ready') await redis.quit();
      else redis.disconnect();
      await proxy.stop();
    }
  });
});

function waitForEvent(emitter: Redis, name: string, deadlineMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${name}' within ${deadlineMs} ms`)), deadlineMs);
    emitter.once(name, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  /** Listens on `port` (an ephemeral one when 0) and forwards every connection to Redis. */
  async start(port = 0): Promise<number> {
    const server = createServer((client) => {
      const upstream = connect(REDIS_PORT, REDIS_HOST);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, REDIS_HOST, resolve);
    });
    return (server.address() as AddressInfo).port;
  }

  /** Refuses new connections and drops the open ones, as a stopped Redis would. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
