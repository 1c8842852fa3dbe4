import type { DataSource } from 'typeorm';
import { Client } from 'pg';
import { poolOf } from './pool';

/** Delay before a listener reconnects after losing its connection; doubles up to the cap. */
const LISTEN_RETRY_MS = { first: 500, max: 10000 };

/**
 * LISTENs on `channels` on a connection of its own (the pool's settings), reconnecting when it is
 * lost; after a reconnect `onReconnect` runs once, since notifications may have been missed
 * meanwhile. Rejects when the first connection fails. Returns the function that stops listening.
 * Channel names are the constants of dispatch-channels.ts, never user input.
 */
export async function listenOn(
  db: DataSource,
  channels: readonly string[],
  onNotification: (channel: string, payload: string | undefined) => void,
  onReconnect: () => void,
): Promise<() => Promise<void>> {
  const options = poolOf(db).options;
  let stopped = false;
  let client: Client | null = null;
  let retry: NodeJS.Timeout | null = null;
  let delay = LISTEN_RETRY_MS.first;

  const connect = async (): Promise<Client> => {
    const c = new Client(options);
    c.on('notification', (n) => onNotification(n.channel, n.payload));
    // An error after connect (server restart, network): the client is unusable; start over.
    c.on('error', () => lost(c));
    c.on('end', () => lost(c));
    try {
      await c.connect();
      await c.query(channels.map((channel) => `LISTEN ${channel}`).join('; '));
    } catch (error) {
      c.removeAllListeners('end');
      await c.end().catch(() => undefined);
      throw error;
    }
    return c;
  };
  const lost = (c: Client) => {
    if (stopped || client !== c) return;
    client = null;
    c.removeAllListeners('end');
    c.end().catch(() => undefined);
    schedule();
  };
  const schedule = () => {
    if (stopped || retry) return;
    retry = setTimeout(() => {
      retry = null;
      connect().then(
        (c) => {
          if (stopped) {
            void c.end().catch(() => undefined);
            return;
          }
          client = c;
          delay = LISTEN_RETRY_MS.first;
          onReconnect();
        },
        () => {
          delay = Math.min(delay * 2, LISTEN_RETRY_MS.max);
          schedule();
        },
      );
    }, delay);
    retry.unref();
  };

  client = await connect();
  return async () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    retry = null;
    const c = client;
    client = null;
    if (c) {
      c.removeAllListeners('end');
      await c.end().catch(() => undefined);
    }
  };
}
