// @switchyard/client's flows and schedules against a real stack (the workspace SDK): a flow
// submitted, watched to completion over its event stream (by the key holder, and by a
// browser-like client holding only a flow token), listed and read; a schedule created, changed,
// paused, resumed, triggered, backfilled, its runs paged, and deleted.
import { Switchyard, SwitchyardError, type FlowWatchEvent } from '@switchyard/client';
import { TestStack } from '@switchyard/testing';

jest.setTimeout(180000);

describe('@switchyard/client flows and schedules', () => {
  let stack: TestStack;
  let client: Switchyard;
  let baseUrl: string;

  beforeAll(async () => {
    stack = await TestStack.create();
    await stack.start();
    baseUrl = stack.service('gateway').url;
    client = new Switchyard({ baseUrl, apiKey: (await stack.createApiKey('sdk-flows')).key });
  });

  afterAll(async () => {
    await stack?.destroy();
  });

  const follow = async (events: AsyncGenerator<FlowWatchEvent>) => {
    const seen: FlowWatchEvent[] = [];
    for await (const event of events) seen.push(event);
    return seen;
  };

  it('submits a flow, watches it to completion, lists and reads it, and follows it with a flow token', async () => {
    const submitted = await client.flows.submit(
      {
        name: 'sdk',
        jobs: [
          { ref: 'a', type: 'synthetic', payload: { durationMs: 600, steps: 2 } },
          { ref: 'b', type: 'synthetic', payload: { durationMs: 600, steps: 2 }, dependsOn: ['a'] },
        ],
      },
      { idempotencyKey: 'sdk-flow' },
    );
    expect(submitted).toMatchObject({ status: 'running', total: 2, deduplicated: false });
    const [a, b] = submitted.jobs.map((job) => job.id);
    // The same Idempotency-Key answers with the same flow.
    const again = await client.flows
      .submit(
        { jobs: [{ ref: 'x', type: 'synthetic', payload: {} }] },
        {
          idempotencyKey: 'sdk-flow',
        },
      )
      .catch((error: unknown) => error);
    expect(again).toMatchObject({ status: 422 });

    const events = await follow(client.flows.watch(submitted.id));
    expect(events[0]?.event).toBe('snapshot');
    const last = events.at(-1);
    expect(last?.event === 'snapshot' && last.data.status).toBe('completed');
    const completed = events.flatMap((e) => (e.event === 'job.completed' ? [e.data.data.jobId] : []));
    expect(completed).toEqual([a, b]);

    const listed: string[] = [];
    for await (const flow of client.flows.list({ limit: 1 })) listed.push(flow.id);
    expect(listed).toContain(submitted.id);
    expect((await client.flows.get(submitted.id)).counts).toEqual({ completed: 2 });

    // A browser-like client with only a flow token: the flow and its events, nothing else.
    const { token, flowId } = await client.flows.createToken(submitted.id, 60);
    expect(flowId).toBe(submitted.id);
    const browser = new Switchyard({ baseUrl, token });
    expect((await browser.flows.get(submitted.id)).status).toBe('completed');
    const replay = await follow(browser.flows.watch(submitted.id));
    expect(replay.map((e) => e.event)).toEqual(['snapshot']);
    await expect(browser.flows.retry(submitted.id)).rejects.toMatchObject({ status: 401 });
    await expect(browser.get(a)).rejects.toMatchObject({ status: 401 });

    // Retrying a completed flow has nothing to do; cancelling a finished one cancels nothing.
    await expect(client.flows.retry(submitted.id)).rejects.toMatchObject({ status: 409 });
    expect((await client.flows.cancel(submitted.id)).flow.id).toBe(submitted.id);
  });

  it('watches a flow that fails, and retries it', async () => {
    const submitted = await client.flows.submit({
      jobs: [{ ref: 'f', type: 'synthetic', payload: { fail: 'permanent' } }],
    });
    const events = await follow(client.flows.watch(submitted.id));
    const last = events.at(-1);
    expect(last?.event === 'snapshot' && last.data.status).toBe('failed');
    expect((await client.flows.retry(submitted.id)).retried).toBe(1);
  });

  it('creates, changes, pauses, resumes, triggers, backfills, pages the runs of and deletes a schedule', async () => {
    const schedule = await client.schedules.create({
      name: 'sdk-nightly',
      cron: '0 3 * * *',
      job: { type: 'synthetic', payload: { durationMs: 0 } },
      paused: true,
    });
    expect(schedule).toMatchObject({ name: 'sdk-nightly', paused: true });
    expect((await client.schedules.update(schedule.id, { timezone: 'Europe/Berlin' })).timezone).toBe(
      'Europe/Berlin',
    );
    expect((await client.schedules.resume(schedule.id)).paused).toBe(false);
    expect(await client.schedules.pause(schedule.id, 'sdk test')).toMatchObject({
      paused: true,
      note: 'sdk test',
    });
    const triggered = await client.schedules.trigger(schedule.id);
    expect(triggered.outcome).toBe('created');
    const backfilled = await client.schedules.backfill(schedule.id, {
      from: '2026-01-01T00:00:00Z',
      to: '2026-01-02T23:59:59Z',
    });
    expect(backfilled).toEqual({ ticks: 2, created: 2, existing: 0 });

    const runs: string[] = [];
    for await (const run of client.schedules.runs(schedule.id, { limit: 1 })) runs.push(run.id);
    expect(runs).toHaveLength(3);
    expect(runs).toContain(triggered.jobId);
    const names: string[] = [];
    for await (const s of client.schedules.list({ limit: 1 })) names.push(s.name);
    expect(names).toContain('sdk-nightly');
    expect((await client.schedules.get(schedule.id)).id).toBe(schedule.id);

    await client.schedules.delete(schedule.id);
    const gone = await client.schedules.get(schedule.id).catch((error: unknown) => error);
    expect(gone).toBeInstanceOf(SwitchyardError);
    expect(gone).toMatchObject({ status: 404, code: 'not_found' });
  });
});
