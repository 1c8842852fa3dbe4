import type { Command } from 'commander';
import type { QueueView } from '@switchyard/contracts';
import type { App } from './cli.context';
import { formatDuration, paintLevel, table } from './format';

export function registerQueuesCommand(program: Command, app: App): void {
  program
    .command('queues')
    .description('queue depths, consumers, throughput and warning levels')
    .action(async (_flags: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      const { body } = await ctx.client.json<unknown>('GET', '/queues', { signal: ctx.signal });
      const { out } = ctx;
      if (out.json) return out.data(body);
      const queues = queueRows(body);
      if (queues.length === 0) return out.line('no queues');
      out.line(
        table(
          ['QUEUE', 'READY', 'IN FLIGHT', 'CONSUMERS', 'OLDEST', 'DONE/MIN', 'EST. WAIT', 'LEVEL'],
          queues.map((q) => [
            q.queue,
            q.ready,
            q.inFlight,
            q.consumers === 0 ? out.style.yellow('0') : q.consumers,
            q.oldestAgeMs === null ? '-' : formatDuration(q.oldestAgeMs),
            Math.round(q.completedPerMinute * 10) / 10,
            q.estimatedWaitMs === null ? '-' : formatDuration(q.estimatedWaitMs),
            paintLevel(q.level, out.style),
          ]),
          out.style,
        ),
      );
    });
}

/**
 * Accepts the list bare, wrapped in `items`/`queues`, or keyed by queue name, since the SPEC names
 * the fields but not the envelope.
 */
export function queueRows(body: unknown): QueueView[] {
  let entries: [string | undefined, unknown][] = [];
  if (Array.isArray(body)) entries = body.map((q) => [undefined, q]);
  else if (typeof body === 'object' && body !== null) {
    const record = body as Record<string, unknown>;
    const wrapped = record.items ?? record.queues;
    if (Array.isArray(wrapped)) entries = wrapped.map((q) => [undefined, q]);
    else if (typeof wrapped === 'object' && wrapped !== null) entries = Object.entries(wrapped);
    else entries = Object.entries(record);
  }
  return entries.flatMap(([key, value]) => {
    if (typeof value !== 'object' || value === null) return [];
    const q = value as Record<string, unknown>;
    const name = q.queue ?? q.name ?? key;
    if (typeof name !== 'string') return [];
    const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
    const optional = (v: unknown): number | null => (typeof v === 'number' ? v : null);
    const level = q.level === 'warning' || q.level === 'critical' ? q.level : 'ok';
    return [
      {
        queue: name,
        ready: num(q.ready),
        inFlight: num(q.inFlight),
        consumers: num(q.consumers),
        oldestAgeMs: optional(q.oldestAgeMs),
        completedPerMinute: num(q.completedPerMinute),
        estimatedWaitMs: optional(q.estimatedWaitMs),
        level,
      },
    ];
  });
}
