import type { Command } from 'commander';
import type { QueueView } from '@switchyard/contracts';
import type { App } from './cli.context';
import { formatDuration, paintLevel, table } from './format';

export function registerQueuesCommand(program: Command, app: App): void {
  const queues = program
    .command('queues')
    .description('queue depths, consumers, throughput and warning levels; pause and resume a queue')
    .action(async (_flags: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      const { body } = await ctx.client.json<unknown>('GET', '/queues', { signal: ctx.signal });
      const { out } = ctx;
      if (out.json) return out.data(body);
      const rows = queueRows(body);
      if (rows.length === 0) return out.line('no queues');
      out.line(
        table(
          [
            'QUEUE',
            'PAUSED',
            'BACKLOG',
            'RELEASED',
            'SCHEDULED',
            'RUNNING',
            'CONSUMERS',
            'OLDEST',
            'DONE/MIN',
            'EST. WAIT',
            'LEVEL',
          ],
          rows.map((q) => [
            q.queue,
            q.paused ? out.style.yellow('paused') : 'no',
            q.backlog,
            q.released,
            q.scheduled,
            q.running,
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

  for (const [action, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    queues
      .command(action)
      .description(
        paused
          ? 'pause a queue: it keeps accepting jobs but starts none (running jobs finish; admin key)'
          : 'resume a paused queue: its backlog starts again (admin key)',
      )
      .argument('<name>', 'queue name, as in `switchyard queues`')
      .action(async (name: string, _flags: unknown, cmd: Command) => {
        const ctx = app.context(cmd);
        const { body } = await ctx.client.json<unknown>(
          'POST',
          `/queues/${encodeURIComponent(name)}/${action}`,
          {
            signal: ctx.signal,
          },
        );
        if (ctx.out.json) return ctx.out.data(body);
        const [row] = queueRows([body]);
        const backlog = row ? `, ${row.backlog} in the backlog` : '';
        ctx.out.line(paused ? `paused ${name}${backlog}` : `resumed ${name}${backlog}`);
      });
  }
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
        backlog: num(q.backlog),
        released: num(q.released),
        scheduled: num(q.scheduled),
        running: num(q.running ?? q.inFlight),
        paused: q.paused === true,
        oldestAgeMs: optional(q.oldestAgeMs),
        completedPerMinute: num(q.completedPerMinute),
        estimatedWaitMs: optional(q.estimatedWaitMs),
        level,
      },
    ];
  });
}
