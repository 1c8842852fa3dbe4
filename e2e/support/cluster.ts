import { connect } from 'amqplib';
import { createParser } from 'eventsource-parser';
import { TEST_SERVICES } from '@switchyard/testing';

/** Helpers of the cluster test: the machine broker's check, SSE completions, a tap on the events exchange. */

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
  /** `jobId:seq` → the event's type and time, to say which event went missing when one does. */
  described: Map<string, string>;
  close(): Promise<void>;
}

export async function tapEvents(url: string, exchange: string, queue: string): Promise<EventTap> {
  const connection = await connect(url);
  const channel = await connection.createChannel();
  await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await channel.bindQueue(queue, exchange, 'job.#');
  await channel.prefetch(1000);
  const seen = new Map<string, Set<number>>();
  const described = new Map<string, string>();
  await channel.consume(queue, (message) => {
    if (!message) return;
    const event = JSON.parse(message.content.toString('utf8')) as {
      type?: string;
      time?: string;
      source?: string;
      data?: { jobId?: string; seq?: number };
    };
    const { jobId, seq } = event.data ?? {};
    if (jobId && typeof seq === 'number') {
      let seqs = seen.get(jobId);
      if (!seqs) seen.set(jobId, (seqs = new Set()));
      seqs.add(seq);
      described.set(`${jobId}:${seq}`, `${event.type} from ${event.source} at ${event.time}`);
    }
    channel.ack(message);
  });
  return {
    seen,
    described,
    close: async () => {
      await channel.deleteQueue(queue).catch(() => undefined);
      await connection.close().catch(() => undefined);
    },
  };
}
