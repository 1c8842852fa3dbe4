import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connect } from 'amqplib';
import { TEST_SERVICES } from '@switchyard/testing';
import { sleep } from './stats';

const run = promisify(execFile);

/** The most messages RabbitMQ held for one queue while a sampler ran. */
export interface QueueHeld {
  /** max(messages_ready + messages_unacknowledged) over the rabbitmqctl samples. */
  maxHeld: number;
  maxReady: number;
  maxUnacked: number;
  /** rabbitmqctl samples taken (each takes a few hundred ms: the CLI starts an Erlang VM). */
  ctlSamples: number;
  /** max ready count over the checkQueue samples (every `intervalMs`, no management plugin needed). */
  maxReadyFast: number;
  fastSamples: number;
}

/**
 * Samples what RabbitMQ holds for `queue` until `stop()` is called, two ways at once:
 * `rabbitmqctl list_queues name messages_ready messages_unacknowledged` back to back (ready and
 * unacknowledged, slow), and amqplib's checkQueue every `intervalMs` (ready only, cheap). With the
 * backlog kept in PostgreSQL the broker should never hold more than the dispatch window.
 */
export function sampleQueue(queue: string, intervalMs = 200): { stop: () => Promise<QueueHeld> } {
  const held: QueueHeld = {
    maxHeld: 0,
    maxReady: 0,
    maxUnacked: 0,
    ctlSamples: 0,
    maxReadyFast: 0,
    fastSamples: 0,
  };
  let running = true;
  const ctl = (async () => {
    while (running) {
      try {
        const { stdout } = await run('rabbitmqctl', [
          '-q',
          'list_queues',
          'name',
          'messages_ready',
          'messages_unacknowledged',
          '--no-table-headers',
        ]);
        for (const line of stdout.split('\n')) {
          const [name, ready, unacked] = line.trim().split(/\s+/);
          if (name !== queue) continue;
          held.maxReady = Math.max(held.maxReady, Number(ready));
          held.maxUnacked = Math.max(held.maxUnacked, Number(unacked));
          held.maxHeld = Math.max(held.maxHeld, Number(ready) + Number(unacked));
          held.ctlSamples += 1;
        }
      } catch {
        await sleep(intervalMs); // the queue or the CLI is not there yet
      }
    }
  })();
  const fast = (async () => {
    const connection = await connect(TEST_SERVICES.amqp);
    try {
      // checkQueue on a missing queue closes the channel: make one per failure.
      let channel = await connection.createChannel();
      while (running) {
        try {
          const { messageCount } = await channel.checkQueue(queue);
          held.maxReadyFast = Math.max(held.maxReadyFast, messageCount);
          held.fastSamples += 1;
        } catch {
          channel = await connection.createChannel();
        }
        await sleep(intervalMs);
      }
    } finally {
      await connection.close().catch(() => undefined);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await Promise.all([ctl, fast]);
      return held;
    },
  };
}
