import type { Command } from 'commander';
import type { ConcurrencyLimitView, LimitList, RateLimitView } from '@switchyard/contracts';
import type { App, CommandContext } from './cli.context';
import { UsageError } from './cli.errors';
import { table } from './format';

const keyPath = (key: string) => `/limits/concurrency/${encodeURIComponent(key)}`;
const ratePath = (key: string) => `/limits/rate/${encodeURIComponent(key)}`;

/** A whole number argument at least `min`, or a usage error naming it. */
function wholeNumber(name: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new UsageError(`${name} must be a whole number, ${min} or more (got "${value}")`);
  }
  return n;
}

/** PUTs a limit and prints what the gateway answered (JSON, or the line `describe` makes of it). */
async function putLimit<V>(
  ctx: CommandContext,
  path: string,
  body: unknown,
  describe: (view: V) => string,
): Promise<void> {
  const view = (await ctx.client.json<V>('PUT', path, { signal: ctx.signal, body })).body;
  if (ctx.out.json) ctx.out.data(view);
  else ctx.out.line(describe(view));
}

/** `switchyard limits`: flow-control limits (per-key concurrency); set and remove need an admin key. */
export function registerLimitsCommand(program: Command, app: App): void {
  const limits = program
    .command('limits')
    .description(
      'concurrency keys (limit, jobs in use and waiting) and rate keys (budget, tokens, hold, waiting); ' +
        'set or remove a limit (admin key)',
    )
    .action(async (_flags: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      const { body } = await ctx.client.json<LimitList>('GET', '/limits', { signal: ctx.signal });
      const { out } = ctx;
      if (out.json) return out.data(body);
      if (body.concurrency.length === 0) out.line('no concurrency keys');
      else
        out.line(
          table(
            ['KEY', 'MAX', 'IN USE', 'WAITING'],
            body.concurrency.map((k) => [k.key, k.max ?? '-', k.inUse, k.waiting]),
            out.style,
          ),
        );
      const rate = body.rate ?? [];
      if (rate.length === 0) return out.line('no rate keys');
      out.line(
        table(
          ['RATE KEY', 'PER MINUTE', 'BURST', 'TOKENS', 'HELD UNTIL', 'WAITING'],
          rate.map((k) => [
            k.key,
            k.perMinute ?? '-',
            k.burst ?? '-',
            k.tokens === null ? '-' : Math.floor(k.tokens),
            k.heldUntil ?? '-',
            k.waiting,
          ]),
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
      const body = { max: wholeNumber('<max>', max, 0) };
      await putLimit<ConcurrencyLimitView>(
        app.context(cmd),
        keyPath(key),
        body,
        (view) =>
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

  registerRateLimitCommands(limits, app);
}

/** `switchyard limits rate set|remove`: provider rate budgets (admin key). */
export function registerRateLimitCommands(limits: Command, app: App): void {
  const rate = limits.command('rate').description('provider rate budgets: set or remove (admin key)');

  rate
    .command('set')
    .description('set a rate budget: at most <perMinute> jobs of <key> released a minute (admin key)')
    .argument('<key>', 'the rate key (a job type’s rateKey, e.g. provider:<name>)')
    .argument('<perMinute>', 'jobs a minute, 0 or more')
    .option('--burst <n>', 'the token bucket’s size (default: one second’s worth, at least 1)')
    .action(async (key: string, perMinute: string, flags: { burst?: string }, cmd: Command) => {
      const body: { perMinute: number; burst?: number } = {
        perMinute: wholeNumber('<perMinute>', perMinute, 0),
      };
      if (flags.burst !== undefined) body.burst = wholeNumber('--burst', flags.burst, 1);
      await putLimit<RateLimitView>(
        app.context(cmd),
        ratePath(key),
        body,
        (view) =>
          `${view.key}: at most ${String(view.perMinute)} a minute, burst ${String(view.burst)} (${view.waiting} waiting)`,
      );
    });

  rate
    .command('remove')
    .description('remove a rate budget: the key’s jobs are released freely again (admin key)')
    .argument('<key>', 'the rate key')
    .action(async (key: string, _flags: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      await ctx.client.json<unknown>('DELETE', ratePath(key), { signal: ctx.signal });
      if (ctx.out.json) return ctx.out.data({ key, removed: true });
      ctx.out.line(`${key}: no rate budget`);
    });
}
