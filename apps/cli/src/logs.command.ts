import type { Command } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';
import { isTerminal, type JobLogLine, type JobLogPage, type JobView } from '@switchyard/contracts';
import type { App, CommandContext } from './cli.context';
import { EXIT, UsageError, type ExitCode } from './cli.errors';
import { compactJson } from './format';

/** How often `--follow` asks for new lines. */
const FOLLOW_INTERVAL_MS = 1000;

export function registerLogsCommand(program: Command, app: App): void {
  program
    .command('logs')
    .description('print the lines a job logged with ctx.log (every attempt, in order)')
    .argument('<id>', 'job id')
    .option('-f, --follow', 'keep printing new lines until the job ends')
    .action(async (id: string, flags: { follow?: boolean }, cmd: Command) => {
      const ctx = app.context(cmd);
      app.exit(await logs(ctx, id, flags.follow === true));
    });
}

async function logs(ctx: CommandContext, id: string, follow: boolean): Promise<ExitCode> {
  let cursor: string | undefined;
  let dropped: JobLogPage['dropped'] = [];
  for (;;) {
    // Reads to the end of what is stored now.
    for (;;) {
      const page = await fetchPage(ctx, id, cursor);
      for (const line of page.items) print(ctx, line);
      dropped = page.dropped;
      cursor = page.tailCursor ?? cursor;
      if (page.nextCursor === null) break;
    }
    if (!follow) break;
    const { body: job } = await ctx.client.json<JobView>('GET', `/jobs/${encodeURIComponent(id)}`, {
      signal: ctx.signal,
    });
    if (isTerminal(job.status)) {
      // Lines are stored before the outcome: one more read has them all.
      const page = await fetchPage(ctx, id, cursor);
      for (const line of page.items) print(ctx, line);
      dropped = page.dropped;
      break;
    }
    try {
      await sleep(FOLLOW_INTERVAL_MS, undefined, { signal: ctx.signal });
    } catch {
      return EXIT.interrupted;
    }
  }
  if (!ctx.out.json) {
    for (const d of dropped) {
      ctx.out.error(
        ctx.out.style.dim(`attempt ${d.attempt}: ${d.lines} more lines dropped (JOB_LOG_MAX_LINES)`),
      );
    }
  }
  return EXIT.ok;
}

function fetchPage(ctx: CommandContext, id: string, cursor: string | undefined): Promise<JobLogPage> {
  if (id.length > 100) throw new UsageError('a job id is a UUID');
  return ctx.client
    .json<JobLogPage>('GET', `/jobs/${encodeURIComponent(id)}/logs`, {
      query: { cursor },
      signal: ctx.signal,
    })
    .then((response) => response.body);
}

function print(ctx: CommandContext, line: JobLogLine): void {
  const { out } = ctx;
  if (out.json) return out.data(line);
  const { style } = out;
  const level =
    line.level === 'error' ? style.red('ERROR') : line.level === 'warn' ? style.yellow('WARN ') : 'INFO ';
  const fields = line.fields === null ? '' : ` ${style.dim(compactJson(line.fields, 500))}`;
  out.line(`${style.dim(line.at)} ${style.dim(`#${line.attempt}`)} ${level} ${line.message}${fields}`);
}
