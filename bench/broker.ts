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
  /** CPU the rabbitmqctl samples used (the CLI's Erlang VM, from the shell's `times`): the bench's. */
  ctlCpuMs: number;
  /** max ready count over the checkQueue samples (every `intervalMs`, no management plugin needed). */
  maxReadyFast: number;
  fastSamples: number;
}

/**
 * Time between two rabbitmqctl samples. Each starts an Erlang VM (~0.5 s of CPU on the bench
 * machine): back to back they took about a third of its two cores from the services being measured.
 */
export const CTL_INTERVAL_MS = 5000;

/** The children's user + system CPU (ms) in the last line of a POSIX shell's `times` output. */
export function childrenCpuMs(times: string): number {
  const last = times.trim().split('\n').pop() ?? '';
  return [...last.matchAll(/(\d+)m([\d.]+)s/g)].reduce(
    (sum, [, minutes, seconds]) => sum + (Number(minutes) * 60 + Number(seconds)) * 1000,
    0,
  );
}

/**
 * Samples what RabbitMQ holds for `queue` until `stop()` is called, two ways at once:
 * `rabbitmqctl list_queues name messages_ready messages_unacknowledged` every `ctlIntervalMs` (ready
 * and unacknowledged, slow; the CPU it costs is counted in `ctlCpuMs`), and amqplib's checkQueue
 * every `intervalMs` (ready only, cheap). With the backlog kept in PostgreSQL the broker should
 * never hold more than the dispatch window.
 */
export function sampleQueue(
  queue: string,
  intervalMs = 200,
  ctlIntervalMs = CTL_INTERVAL_MS,
): { stop: () => Promise<QueueHeld> } {
  const held: QueueHeld = {
    maxHeld: 0,
    maxReady: 0,
    maxUnacked: 0,
    ctlSamples: 0,
    ctlCpuMs: 0,
    maxReadyFast: 0,
    fastSamples: 0,
  };
  let running = true;
  let wake: () => void = () => undefined;
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  const ctl = (async () => {
    while (running) {
      try {
        // Through a shell, whose `times` (on stderr) gives the CLI's CPU once it exited; at the
        // lowest CPU priority, so that the observer takes the idle CPU rather than the services'.
        const { stdout, stderr } = await run('sh', [
          '-c',
          'nice -n 19 rabbitmqctl -q list_queues name messages_ready messages_unacknowledged --no-table-headers; s=$?; times >&2; exit $s',
        ]);
        held.ctlCpuMs += childrenCpuMs(stderr);
        for (const line of stdout.split('\n')) {
          const [name, ready, unacked] = line.trim().split(/\s+/);
          if (name !== queue) continue;
          held.maxReady = Math.max(held.maxReady, Number(ready));
          held.maxUnacked = Math.max(held.maxUnacked, Number(unacked));
          held.maxHeld = Math.max(held.maxHeld, Number(ready) + Number(unacked));
          held.ctlSamples += 1;
        }
        if (running) await pause(ctlIntervalMs);
      } catch {
        await sleep(intervalMs); // the queue or the CLI is not there yet
      }
    }
  })();
  const fast = (async () => {
    const connection = await connect(TEST_SERVICES.amqp);
    // The 404 of a queue not declared yet closes the channel with an 'error' event, which amqplib
    // raises on the connection when the channel has no listener: the bench process would exit.
    connection.on('error', () => undefined);
    const openChannel = async () => {
      const opened = await connection.createChannel();
      opened.on('error', () => undefined);
      return opened;
    };
    try {
      // checkQueue on a missing queue closes the channel: make one per failure.
      let channel = await openChannel();
      while (running) {
        try {
          const { messageCount } = await channel.checkQueue(queue);
          held.maxReadyFast = Math.max(held.maxReadyFast, messageCount);
          held.fastSamples += 1;
        } catch {
          channel = await openChannel();
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
      wake();
      await Promise.all([ctl, fast]);
      return held;
    },
  };
}
