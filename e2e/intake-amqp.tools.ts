// `npm run test:tools`: the AMQP intake fed by amqp-publish (Debian/Ubuntu package amqp-tools), a
// client written in C that Switchyard has nothing in common with. intake-amqp.e2e.ts does the same
// with @cloudamqp/amqp-client in `npm test`.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { connect, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { Client } from 'pg';
import { amqpNames, type AmqpNames } from '@switchyard/contracts';
import { TestStack, TEST_SERVICES, waitFor, type TestApi } from '@switchyard/testing';

jest.setTimeout(120_000);

const run = promisify(execFile);
const amqpPublish = (args: string[]) => run('amqp-publish', ['-u', TEST_SERVICES.amqp, '-p', ...args]);

describe('AMQP intake fed by amqp-publish', () => {
  let stack: TestStack;
  let names: AmqpNames;
  let connection: ChannelModel;
  let db: Client;
  let key: string;
  let api: TestApi;

  beforeAll(async () => {
    stack = await TestStack.create();
    await stack.start(['gateway', 'worker', 'progress-tracker']);
    names = amqpNames(stack.id);
    key = (await stack.createApiKey('intake')).key;
    api = stack.api(key);
    connection = await connect(TEST_SERVICES.amqp);
    db = new Client({ connectionString: stack.db.url });
    await db.connect();
  });

  afterAll(async () => {
    await connection?.close().catch(() => undefined);
    await db?.end();
    await stack?.destroy();
  });

  const jobIdsByMarker = async (marker: string): Promise<string[]> =>
    (await db.query<{ id: string }>(`SELECT id FROM jobs WHERE metadata->>'marker' = $1`, [marker])).rows.map(
      (r) => r.id,
    );
  const job = (marker: string, durationMs: number) =>
    JSON.stringify({ type: 'synthetic', payload: { durationMs, steps: 2 }, metadata: { marker } });

  it('accepts jobs published to the intake exchange or straight to the queue, and runs them', async () => {
    const viaExchange = `amqp-publish-${randomUUID()}`;
    const viaQueue = `amqp-publish-${randomUUID()}`;
    // amqp-publish sets neither message_id nor correlation_id; -p makes it persistent.
    await amqpPublish(
      ['-e', names.intakeExchange, '-r', 'submit', '-C', 'application/json'].concat([
        '-H',
        `x-api-key: ${key}`,
        '-b',
        job(viaExchange, 10),
      ]),
    );
    // Without -e, amqp-publish uses the default exchange: the routing key is the queue name.
    await amqpPublish(['-r', names.intakeQueue, '-H', `x-api-key: ${key}`, '-b', job(viaQueue, 11)]);
    for (const marker of [viaExchange, viaQueue]) {
      const [id] = await waitFor(
        async () => {
          const ids = await jobIdsByMarker(marker);
          return ids.length > 0 && ids;
        },
        { what: `the job marked ${marker}` },
      );
      const done = await api.waitForStatus(id ?? '', 'completed');
      expect(done.result).toMatchObject({ ok: true });
    }
  });

  it('replies to reply_to with the x-correlation-id header as the correlation id', async () => {
    const channel = await connection.createChannel();
    const { queue } = await channel.assertQueue('', { exclusive: true });
    const replies: ConsumeMessage[] = [];
    await channel.consume(queue, (m) => m && replies.push(m), { noAck: true });
    const marker = `tools-${randomUUID()}`;
    await amqpPublish(
      ['-e', names.intakeExchange, '-r', 'submit', '-C', 'application/json', '-t', queue].concat([
        '-H',
        `x-api-key: ${key}`,
        '-H',
        `x-correlation-id: ${marker}`,
        '-b',
        job(marker, 5),
      ]),
    );
    const [reply] = await waitFor(() => replies.length > 0 && replies, { what: 'the reply' });
    expect(reply.properties.correlationId).toBe(marker);
    const body = JSON.parse(reply.content.toString('utf8')) as { jobId: string; status: string };
    expect(body).toEqual({ jobId: expect.any(String) as string, status: 'queued' });
    expect(await jobIdsByMarker(marker)).toEqual([body.jobId]);
  });
});
