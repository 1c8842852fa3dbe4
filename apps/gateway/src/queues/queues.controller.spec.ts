import { ApiError, type QueueView } from '@switchyard/contracts';
import { createLogger } from '@switchyard/observability';
import type { LimitsRepository, QueueSettingsRepository } from '@switchyard/persistence';
import type { Caller } from '../auth/caller';
import type { QueueMonitor } from './queue.monitor';
import { QueuesController } from './queues.controller';

const admin: Caller = { tenant: 'ops', keyId: 'key-ops', scopes: ['admin'], admin: true };

function controller() {
  const paused = new Map<string, boolean>([['default', false]]);
  const writes: [string, boolean][] = [];
  const monitor = {
    queues: () => ['default', 'analysis'],
    notePaused: (queue: string, value: boolean) => paused.set(queue, value),
    view: (queue: string) =>
      ({ queue, paused: paused.get(queue) ?? false, backlog: 4 }) as unknown as QueueView,
    views: () => [],
  } as unknown as QueueMonitor;
  const settings = {
    setPaused: (queue: string, value: boolean) => {
      writes.push([queue, value]);
      return Promise.resolve({ queue, paused: value, pausedAt: value ? new Date().toISOString() : null });
    },
  } as unknown as QueueSettingsRepository;
  const lines: string[] = [];
  const logger = createLogger('test', 'info', { write: (line: string) => lines.push(line) });
  const limits = { concurrencyByQueue: () => Promise.resolve(new Map()) } as unknown as LimitsRepository;
  return { c: new QueuesController(monitor, settings, limits, logger), writes, lines };
}

describe('QueuesController', () => {
  it('pauses and resumes a known queue, writing the state and answering with its row', async () => {
    const { c, writes, lines } = controller();
    expect(await c.pause(admin, 'default')).toMatchObject({ queue: 'default', paused: true, backlog: 4 });
    expect(await c.pause(admin, 'default')).toMatchObject({ paused: true });
    expect(await c.resume(admin, 'default')).toMatchObject({ queue: 'default', paused: false });
    expect(writes).toEqual([
      ['default', true],
      ['default', true],
      ['default', false],
    ]);
    // Who paused or resumed which queue is in the log.
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged.map((l) => [l['msg'], l['queue'], l['keyId']])).toEqual([
      ['queue default paused', 'default', 'key-ops'],
      ['queue default paused', 'default', 'key-ops'],
      ['queue default resumed', 'default', 'key-ops'],
    ]);
  });

  it('answers 404 not_found for a queue no job type uses, writing nothing', async () => {
    const { c, writes } = controller();
    await expect(c.pause(admin, 'nope')).rejects.toMatchObject({ code: 'not_found' });
    await expect(c.resume(admin, 'nope')).rejects.toBeInstanceOf(ApiError);
    expect(writes).toEqual([]);
  });
});
