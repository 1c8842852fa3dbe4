import { ApiError, type QueueView } from '@switchyard/contracts';
import type { QueueSettingsRepository } from '@switchyard/persistence';
import type { QueueMonitor } from './queue.monitor';
import { QueuesController } from './queues.controller';

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
  return { c: new QueuesController(monitor, settings), writes };
}

describe('QueuesController', () => {
  it('pauses and resumes a known queue, writing the state and answering with its row', async () => {
    const { c, writes } = controller();
    expect(await c.pause('default')).toMatchObject({ queue: 'default', paused: true, backlog: 4 });
    expect(await c.pause('default')).toMatchObject({ paused: true });
    expect(await c.resume('default')).toMatchObject({ queue: 'default', paused: false });
    expect(writes).toEqual([
      ['default', true],
      ['default', true],
      ['default', false],
    ]);
  });

  it('answers 404 not_found for a queue no job type uses, writing nothing', async () => {
    const { c, writes } = controller();
    await expect(c.pause('nope')).rejects.toMatchObject({ code: 'not_found' });
    await expect(c.resume('nope')).rejects.toBeInstanceOf(ApiError);
    expect(writes).toEqual([]);
  });
});
