// The webhook fan-out costs nothing while no endpoint is enabled: its queue is bound to the events
// exchange only for the terminal event types enabled endpoints take, by whichever gateway changes
// them, and the first endpoint's creation is answered only once the binding is in place.
import { execFile } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { connect, type ChannelModel } from 'amqplib';
import { Client } from 'pg';
import { Webhook } from 'standardwebhooks';
import { TEST_SERVICES, TestStack, waitFor, type TestApi } from '@switchyard/testing';

jest.setTimeout(180000);

const run = promisify(execFile);

describe('webhook fan-out routing', () => {
  let stack: TestStack;
  let server: Server;
  let receiverUrl = '';
  const received: { path: string; headers: IncomingHttpHeaders; body: string }[] = [];
  let amqp: ChannelModel;
  let db: Client;

  beforeAll(async () => {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({
          path: request.url ?? '/',
          headers: request.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
        response.end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    stack = await TestStack.create({ WEBHOOK_ALLOW_PRIVATE: 'true' });
    await stack.start();
    amqp = await connect(TEST_SERVICES.amqp);
    db = new Client({ connectionString: stack.db.url });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await amqp?.close();
    await stack?.destroy();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  /** The routing keys binding the fan-out queue to the events exchange, as the broker lists them. */
  async function bindings(): Promise<string[]> {
    const { stdout } = await run('rabbitmqctl', [
      '-q',
      'list_bindings',
      'source_name',
      'destination_name',
      'routing_key',
      '--no-table-headers',
    ]);
    return stdout
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter(
        ([source, destination]) => source === `${stack.id}.events` && destination === `${stack.id}.webhooks`,
      )
      .map(([, , key]) => key ?? '')
      .sort();
  }

  async function messagesWaiting(): Promise<number> {
    const channel = await amqp.createChannel();
    try {
      return (await channel.checkQueue(`${stack.id}.webhooks`)).messageCount;
    } finally {
      await channel.close();
    }
  }

  async function statusOf(jobId: string): Promise<string | undefined> {
    const { rows } = await db.query<{ status: string }>('SELECT status FROM jobs WHERE id = $1', [jobId]);
    return rows[0]?.status;
  }

  /**
   * Submits a job that runs for a moment, stops the gateway (whose fan-out would drain the queue),
   * and answers how many messages the fan-out queue holds once the job completed.
   */
  async function queuedWhileGatewayDown(api: TestApi): Promise<{ jobId: string; waiting: number }> {
    const jobId = await api.submit({ type: 'synthetic', payload: { durationMs: 1500 } });
    expect(await stack.service('gateway').stop('SIGTERM')).toBe(0);
    await waitFor(async () => (await statusOf(jobId)) === 'completed', {
      timeoutMs: 30000,
      what: 'the job completed while the gateway is down',
    });
    // The terminal event is published after the job's completion is durable: give it a moment.
    const deadline = Date.now() + 3000;
    let waiting = await messagesWaiting();
    while (waiting === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      waiting = await messagesWaiting();
    }
    return { jobId, waiting };
  }

  it('routes no event to the fan-out while no endpoint is enabled, and every terminal one once one is', async () => {
    const { key } = await stack.createApiKey('routing');
    let api = stack.api(key);
    expect(await bindings()).toEqual([]);

    // No endpoint: a completed job's event never reaches the fan-out queue.
    const quiet = await queuedWhileGatewayDown(api);
    expect(quiet.waiting).toBe(0);
    await stack.start(['gateway']);
    api = stack.api(key);
    expect(await bindings()).toEqual([]);

    // The first endpoint: bound before its creation is answered; the same wait now finds the event.
    const created = await api.post<{ id: string; secret: string }>('/webhooks', {
      url: `${receiverUrl}/all`,
    });
    expect(created.status).toBe(201);
    expect(await bindings()).toEqual(['job.cancelled', 'job.completed', 'job.failed']);
    const routed = await queuedWhileGatewayDown(api);
    expect(routed.waiting).toBe(1);
    await stack.start(['gateway']);
    api = stack.api(key);
    expect(await bindings()).toEqual(['job.cancelled', 'job.completed', 'job.failed']);
    const [delivery] = await waitFor(() => received.length > 0 && received, {
      timeoutMs: 30000,
      what: 'the delivery of the event that waited in the queue',
    });
    expect(
      new Webhook(created.body.secret).verify(delivery.body, delivery.headers as Record<string, string>),
    ).toMatchObject({ subject: routed.jobId, type: 'switchyard.job.completed' });
    expect(received.map((r) => (JSON.parse(r.body) as { subject: string }).subject)).not.toContain(
      quiet.jobId,
    );
  });

  it('follows endpoint changes made on any gateway, and delivers a job that ends right after a change', async () => {
    const { key } = await stack.createApiKey('routing-2');
    const first = stack.api(key);
    const second = stack.api(key, await stack.spawn('gateway'));
    const existing = await first.get<{ items: { id: string }[] }>('/webhooks');
    const admin = stack.api();
    // Remove the endpoints left by the test before (another tenant's: through the admin key).
    const all = await admin.get<{ items: { id: string }[] }>('/webhooks');
    for (const endpoint of [...existing.body.items, ...all.body.items]) {
      await admin.delete(`/webhooks/${endpoint.id}`);
    }
    expect(await bindings()).toEqual([]);

    // Only failures asked for: only job.failed is routed.
    const failedOnly = await first.post<{ id: string; secret: string }>('/webhooks', {
      url: `${receiverUrl}/changes`,
      eventTypes: ['switchyard.job.failed'],
    });
    expect(failedOnly.status).toBe(201);
    expect(await bindings()).toEqual(['job.failed']);

    // Widened through the other gateway; a job that completes at once right after is delivered.
    const widened = await second.request('PATCH', `/webhooks/${failedOnly.body.id}`, {
      eventTypes: ['switchyard.job.failed', 'switchyard.job.completed'],
    });
    expect(widened.status).toBe(200);
    const jobId = await first.submit({ type: 'synthetic', payload: { durationMs: 0 } });
    await waitFor(
      () =>
        received.some(
          (r) => r.path === '/changes' && (JSON.parse(r.body) as { subject: string }).subject === jobId,
        ),
      { timeoutMs: 30000, what: 'the delivery of the job completed right after the change' },
    );
    expect(await bindings()).toEqual(['job.completed', 'job.failed']);

    // Disabled on one gateway, deleted on the other: unbound at once.
    await second.request('PATCH', `/webhooks/${failedOnly.body.id}`, { enabled: false });
    expect(await bindings()).toEqual([]);
    await first.request('PATCH', `/webhooks/${failedOnly.body.id}`, { enabled: true });
    expect(await bindings()).toEqual(['job.completed', 'job.failed']);
    expect((await second.delete(`/webhooks/${failedOnly.body.id}`)).status).toBe(204);
    expect(await bindings()).toEqual([]);
  });
});
