import type { Command } from 'commander';
import type { JobPage } from '@switchyard/contracts';
import type { App } from './cli.context';
import { UsageError } from './cli.errors';
import { integerOption } from './cli.options';
import { formatTime, table } from './format';

interface FilterFlags {
  type?: string;
  errorCode?: string;
}

export function registerDlqCommands(program: Command, app: App): void {
  const dlq = program.command('dlq').description('dead-lettered jobs: list, replay, discard');

  dlq
    .command('list')
    .description('list dead-lettered jobs')
    .option('--type <type>', 'job type')
    .option('--error-code <code>', "the job's error code, e.g. timeout")
    .option('--limit <n>', 'at most this many (1–200)', integerOption(1, 200))
    .option('--cursor <cursor>', 'the next page, from a previous list')
    .action(async (flags: FilterFlags & { limit?: number; cursor?: string }, cmd: Command) => {
      const ctx = app.context(cmd);
      const { body } = await ctx.client.json<JobPage>('GET', '/dlq', {
        query: { type: flags.type, errorCode: flags.errorCode, limit: flags.limit, cursor: flags.cursor },
        signal: ctx.signal,
      });
      const { out } = ctx;
      out.page(body, 'the dead-letter queue is empty', (jobs) =>
        table(
          ['ID', 'TYPE', 'QUEUE', 'ERROR', 'ATTEMPTS', 'FAILED AT'],
          jobs.map((j) => [
            j.id,
            j.type,
            j.queue,
            j.error === null ? '-' : out.style.red(j.error.code),
            `${j.attempts}/${j.maxAttempts}`,
            formatTime(j.finishedAt),
          ]),
          out.style,
        ),
      );
    });

  dlq
    .command('replay')
    .description('put dead-lettered jobs back in their queue: one by id, or every one matching a filter')
    .argument('[id]', 'job id')
    .option('--type <type>', 'replay jobs of this type')
    .option('--error-code <code>', 'replay jobs that failed with this code')
    .option('--all', 'replay every dead-lettered job')
    .action(async (id: string | undefined, flags: FilterFlags & { all?: boolean }, cmd: Command) => {
      const ctx = app.context(cmd);
      const filtered = flags.type !== undefined || flags.errorCode !== undefined || flags.all === true;
      if (id !== undefined && filtered) throw new UsageError('give either a job id or a filter, not both');
      if (flags.all === true && (flags.type !== undefined || flags.errorCode !== undefined)) {
        throw new UsageError('--all replays every dead-lettered job: leave out --type and --error-code');
      }
      // A bare `dlq replay` must not replay everything by accident.
      if (id === undefined && !filtered) {
        throw new UsageError(
          'give a job id, --type, --error-code, or --all to replay every dead-lettered job',
        );
      }
      const { body } =
        id === undefined
          ? await ctx.client.json<unknown>('POST', '/dlq/replay', {
              // The API refuses an empty filter unless it says `all: true`.
              body: flags.all === true ? { all: true } : { type: flags.type, errorCode: flags.errorCode },
              signal: ctx.signal,
            })
          : await ctx.client.json<unknown>('POST', `/dlq/${encodeURIComponent(id)}/replay`, {
              signal: ctx.signal,
            });
      if (ctx.out.json) return ctx.out.data(body ?? null);
      ctx.out.line(id === undefined ? describeBulkReplay(body) : `replayed ${id}: queued again`);
    });

  dlq
    .command('discard')
    .description('delete a dead-lettered job for good')
    .argument('<id>', 'job id')
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      await ctx.client.json<undefined>('DELETE', `/dlq/${encodeURIComponent(id)}`, { signal: ctx.signal });
      if (ctx.out.json) ctx.out.data({ id, discarded: true });
      else ctx.out.line(`discarded ${id}`);
    });
}

/** The bulk replay answer is not pinned down beyond 202; report a count when there is one. */
function describeBulkReplay(body: unknown): string {
  if (typeof body === 'object' && body !== null) {
    for (const key of ['replayed', 'count', 'accepted']) {
      const value = (body as Record<string, unknown>)[key];
      if (typeof value === 'number') return `replayed ${value} job${value === 1 ? '' : 's'}`;
    }
    const jobs = (body as Record<string, unknown>).jobs ?? (body as Record<string, unknown>).items;
    if (Array.isArray(jobs)) return `replayed ${jobs.length} job${jobs.length === 1 ? '' : 's'}`;
  }
  return 'replay accepted';
}
