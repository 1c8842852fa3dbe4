import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect } from 'amqplib';
import { createParser } from 'eventsource-parser';
import { TEST_SERVICES } from '@switchyard/testing';

/** A three-node RabbitMQ cluster for one test file, through tools/cluster.mjs (npm run cluster:up). */

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');

export function rabbitmqInstalled(): boolean {
  return ['/usr/lib/rabbitmq/bin/rabbitmq-server', '/usr/sbin/rabbitmq-server'].some((p) => existsSync(p));
}

export class TestCluster {
  amqpUrl = '';
  private readonly env: Record<string, string>;

  /** Own directory, node names (syt1@localhost …) and ports, apart from `npm run cluster:up`'s. */
  constructor(basePort = 5711, name = 'syt') {
    this.env = {
      PATH: process.env['PATH'] ?? '',
      SWITCHYARD_CLUSTER_DIR: mkdtempSync(join(tmpdir(), 'switchyard-cluster-test-')),
      SWITCHYARD_CLUSTER_NAME: name,
      SWITCHYARD_CLUSTER_PORT: String(basePort),
    };
  }

  private async tool(...args: string[]): Promise<Record<string, unknown>> {
    const { stdout } = await run(process.execPath, [join(ROOT, 'tools', 'cluster.mjs'), ...args], {
      env: this.env,
      timeout: 240000,
    });
    const lines = stdout.trim().split('\n');
    return JSON.parse(lines[lines.length - 1] ?? '{}') as Record<string, unknown>;
  }

  async up(): Promise<void> {
    const info = await this.tool('up');
    this.amqpUrl = String(info['amqpUrl']);
  }

  down(): Promise<unknown> {
    return this.tool('down').catch(() => undefined);
  }

  /** The index (1…3) of the node leading quorum queue `queue`. */
  async leaderOf(queue: string): Promise<number> {
    return Number((await this.tool('leader', queue))['index']);
  }

  /** kill -9 of node `index`'s Erlang VM. */
  kill(index: number): Promise<unknown> {
    return this.tool('kill', String(index));
  }

  start(index: number): Promise<unknown> {
    return this.tool('start', String(index));
  }

  async running(): Promise<string[]> {
    return (await this.tool('status'))['running'] as string[];
  }
}

/** Throws unless the machine's own broker (5672) accepts an AMQP connection. */
export async function expectMachineBrokerAnswers(): Promise<void> {
  const connection = await connect(TEST_SERVICES.amqp);
  await connection.close();
}

/** A tenant-wide SSE stream (`GET /api/v1/events`) that records the ids of jobs it saw complete. */
export interface CompletionStream {
  completed: Set<string>;
  /** Set when the stream ended or failed before close(). */
  ended: () => string | undefined;
  close(): void;
}

export async function openCompletionStream(gatewayUrl: string, key: string): Promise<CompletionStream> {
  const controller = new AbortController();
  const response = await fetch(`${gatewayUrl}/api/v1/events`, {
    headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream' },
    signal: controller.signal,
  });
  if (response.status !== 200 || !response.body) throw new Error(`events stream answered ${response.status}`);
  const completed = new Set<string>();
  let endedWith: string | undefined;
  const parser = createParser({
    onEvent: (message) => {
      if (message.event !== 'job.completed') return;
      const event = JSON.parse(message.data) as { data?: { jobId?: string } };
      if (event.data?.jobId) completed.add(event.data.jobId);
    },
  });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  void (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.feed(decoder.decode(value, { stream: true }));
      }
      if (!controller.signal.aborted) endedWith = 'the gateway ended the stream';
    } catch (error) {
      if (!controller.signal.aborted) endedWith = `the stream failed: ${String(error)}`;
    }
  })();
  return { completed, ended: () => endedWith, close: () => controller.abort() };
}

/**
 * Every lifecycle event the events exchange carries, recorded from a quorum queue of the test's
 * own (bound to `job.#` on `exchange`) through a plain amqplib connection to `url`.
 */
export interface EventTap {
  /** jobId → the seqs of its events seen on the bus. */
  seen: Map<string, Set<number>>;
  close(): Promise<void>;
}

export async function tapEvents(url: string, exchange: string, queue: string): Promise<EventTap> {
  const connection = await connect(url);
  const channel = await connection.createChannel();
  await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await channel.bindQueue(queue, exchange, 'job.#');
  await channel.prefetch(1000);
  const seen = new Map<string, Set<number>>();
  await channel.consume(queue, (message) => {
    if (!message) return;
    const event = JSON.parse(message.content.toString('utf8')) as { data?: { jobId?: string; seq?: number } };
    const { jobId, seq } = event.data ?? {};
    if (jobId && typeof seq === 'number') {
      let seqs = seen.get(jobId);
      if (!seqs) seen.set(jobId, (seqs = new Set()));
      seqs.add(seq);
    }
    channel.ack(message);
  });
  return {
    seen,
    close: async () => {
      await channel.deleteQueue(queue).catch(() => undefined);
      await connection.close().catch(() => undefined);
    },
  };
}
