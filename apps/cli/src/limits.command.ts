import type { Command } from 'commander';
import type { ConcurrencyLimitView, LimitList } from '@switchyard/contracts';
import type { App } from './cli.context';
import { UsageError } from './cli.errors';
import { table } from './format';

const keyPath = (key: string) => `/limits/concurrency/${encodeURIComponent(key)}`;

/** `switchyard limits`: flow-control limits (per-key concurrency); set and remove need an admin key. */
export function registerLimitsCommand(program: Command, app: App): void {
  const limits = program
    .command('limits')
    .description('concurrency keys: limit, jobs in use and waiting; set or remove a limit (admin key)')
    .action(async (_flags: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      const { body } = await ctx.client.json<LimitList>('GET', '/limits', { signal: ctx.signal });
      const { out } = ctx;
      if (out.json) return out.data(body);
      if (body.concurrency.length === 0) return out.line('no concurrency keys');
      out.line(
        table(
          ['KEY', 'MAX', 'IN USE', 'WAITING'],
          body.concurrency.map((k) => [k.key, k.max ?? '-', k.inUse, k.waiting]),
          out.style,
        ),
      );
    });

  limits
    .command('set')
    .description(
      'set a concurrency limit: at most <max> jobs of <key> released or running at once (admin key)',
    )
    .argument('<key>', 'the concurrency key (as jobs carry it in concurrencyKey)')
    .argument('<max>', 'the limit, 0 or more')
    .action(async (key: string, max: string, _flags: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      const value = Number(max);
      if (!Number.isInteger(value) || value < 0) {
        throw new UsageError(`<max> must be a whole number, 0 or more (got "${max}")`);
      }
      const request = { signal: ctx.signal, body: { max: value } };
      const view = (await ctx.client.json<ConcurrencyLimitView>('PUT', keyPath(key), request)).body;
      const { out } = ctx;
      if (out.json) out.data(view);
      else
        out.line(
          `${view.key}: at most ${String(view.max)} at once (${view.inUse} in use, ${view.waiting} waiting)`,
        );
    });

  limits
    .command('remove')
    .description('remove a concurrency limit: the key’s jobs are no longer held back (admin key)')
    .argument('<key>', 'the concurrency key')
    .action(async (key: string, _flags: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      await ctx.client.json<unknown>('DELETE', keyPath(key), { signal: ctx.signal });
      if (ctx.out.json) return ctx.out.data({ key, removed: true });
      ctx.out.line(`${key}: no limit`);
    });
}
