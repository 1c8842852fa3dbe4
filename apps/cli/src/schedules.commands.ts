import { InvalidArgumentError, type Command } from 'commander';
import {
  SCHEDULE_OVERLAPS,
  type JobSummaryPage,
  type ScheduleBackfillResult,
  type ScheduleCreate,
  type SchedulePage,
  type ScheduleTriggerResult,
  type ScheduleView,
} from '@switchyard/contracts';
import type { App } from './cli.context';
import { UsageError } from './cli.errors';
import { integerOption, parseJsonObject, priorityOption, withPageOptions } from './cli.options';
import { formatTime, jobsTable, table } from './format';
import { payloadOf } from './jobs.commands';

interface CreateFlags {
  cron?: string;
  everyMs?: number;
  timezone?: string;
  payload?: string;
  payloadFile?: string;
  priority?: number;
  timeoutMs?: number;
  maxAttempts?: number;
  metadata?: string;
  concurrencyKey?: string;
  webhookUrl?: string;
  overlap?: ScheduleCreate['overlap'];
  catchupWindowMs?: number;
  jitterMs?: number;
  startAt?: string;
  endAt?: string;
  paused?: boolean;
  note?: string;
}

const path = (id: string, suffix = ''): string => `/schedules/${encodeURIComponent(id)}${suffix}`;

function overlapOption(value: string): ScheduleCreate['overlap'] {
  const found = SCHEDULE_OVERLAPS.find((o) => o === value);
  if (found === undefined) throw new InvalidArgumentError(`expected one of ${SCHEDULE_OVERLAPS.join(', ')}`);
  return found;
}

function timeOption(value: string): string {
  if (Number.isNaN(new Date(value).getTime())) throw new InvalidArgumentError('expected an ISO-8601 time');
  return new Date(value).toISOString();
}

function when(s: ScheduleView): string {
  return s.cron === null ? `every ${s.everyMs ?? 0} ms` : `${s.cron} (${s.timezone})`;
}

function describe(s: ScheduleView): string {
  return [
    `${s.name} ${s.id}`,
    `  when      ${when(s)}${s.paused ? ' — paused' : ''}`,
    `  job       ${s.job.type} ${JSON.stringify(s.job.payload)}`,
    ...(s.job.concurrencyKey === undefined ? [] : [`  key       ${s.job.concurrencyKey}`]),
    ...(s.job.webhookUrl === undefined ? [] : [`  webhook   ${s.job.webhookUrl}`]),
    `  overlap   ${s.overlap}, catch-up window ${s.catchupWindowMs} ms, jitter ${s.jitterMs} ms`,
    `  next run  ${formatTime(s.nextRunAt)}`,
    `  last run  ${formatTime(s.lastRunAt)}`,
    ...(s.note === null ? [] : [`  note      ${s.note}`]),
    ...(s.lastError === null ? [] : [`  error     ${s.lastError}`]),
  ].join('\n');
}

/** `switchyard schedules …`: recurring jobs (jobs:write to change them, jobs:read to read). */
export function registerScheduleCommands(program: Command, app: App): void {
  const schedules = program.command('schedules').description('recurring jobs: cron or fixed intervals');

  schedules
    .command('create')
    .description('create a schedule: each tick submits one job of <type>')
    .argument('<name>', 'unique per tenant')
    .argument('<type>', 'job type, as in `switchyard submit`')
    .option('--cron <expr>', '5 or 6 fields, or @hourly-style aliases')
    .option('--every-ms <ms>', 'a tick every this many ms (instead of --cron)', integerOption(1000))
    .option('--timezone <zone>', 'IANA zone the cron expression is read in (default UTC)')
    .option('--payload <json>', 'payload as a JSON object')
    .option('--payload-file <file>', 'read the payload from a JSON file')
    .option('-p, --priority <priority>', '0–9 or low, normal, high, critical', priorityOption)
    .option('--timeout-ms <ms>', 'job timeout', integerOption(1))
    .option('--max-attempts <n>', 'attempts before the job fails (1–20)', integerOption(1, 20))
    .option('--metadata <json>', 'metadata as a JSON object')
    .option('--concurrency-key <key>', 'per-key concurrency of the runs (PUT /limits/concurrency/{key})')
    .option('--webhook-url <url>', 'where the runs’ webhooks go (the origin of an enabled endpoint)')
    .option('--overlap <policy>', `${SCHEDULE_OVERLAPS.join(' | ')} (default skip)`, overlapOption)
    .option(
      '--catchup-window-ms <ms>',
      'after downtime, run missed ticks this recent (default 60000)',
      integerOption(0),
    )
    .option('--jitter-ms <ms>', 'start each run up to this much after its tick', integerOption(0))
    .option('--start-at <time>', 'no tick before this time', timeOption)
    .option('--end-at <time>', 'no tick after this time', timeOption)
    .option('--paused', 'create it paused')
    .option('--note <text>', 'a note')
    .action(async (name: string, type: string, flags: CreateFlags, cmd: Command) => {
      if ((flags.cron === undefined) === (flags.everyMs === undefined)) {
        throw new UsageError('give exactly one of --cron and --every-ms');
      }
      const ctx = app.context(cmd);
      const job: ScheduleCreate['job'] = { type, payload: await payloadOf(flags) };
      if (flags.priority !== undefined) job.priority = flags.priority;
      if (flags.timeoutMs !== undefined) job.timeoutMs = flags.timeoutMs;
      if (flags.maxAttempts !== undefined) job.maxAttempts = flags.maxAttempts;
      if (flags.metadata !== undefined) job.metadata = parseJsonObject(flags.metadata, '--metadata');
      if (flags.concurrencyKey !== undefined) job.concurrencyKey = flags.concurrencyKey;
      if (flags.webhookUrl !== undefined) job.webhookUrl = flags.webhookUrl;
      const request: ScheduleCreate = {
        name,
        job,
        cron: flags.cron,
        everyMs: flags.everyMs,
        timezone: flags.timezone,
        overlap: flags.overlap,
        catchupWindowMs: flags.catchupWindowMs,
        jitterMs: flags.jitterMs,
        startAt: flags.startAt,
        endAt: flags.endAt,
        paused: flags.paused,
        note: flags.note,
      };
      const { body } = await ctx.client.json<ScheduleView>('POST', '/schedules', {
        body: request,
        signal: ctx.signal,
      });
      if (ctx.out.json) return ctx.out.data(body);
      ctx.out.line(`created schedule ${body.name} ${body.id}, next run ${formatTime(body.nextRunAt)}`);
    });

  withPageOptions(schedules.command('list').description('list schedules, newest first')).action(
    async (flags: { limit?: number; cursor?: string }, cmd: Command) => {
      const ctx = app.context(cmd);
      const { body } = await ctx.client.json<SchedulePage>('GET', '/schedules', {
        query: { limit: flags.limit, cursor: flags.cursor },
        signal: ctx.signal,
      });
      const { out } = ctx;
      out.page(body, 'no schedules', (items) =>
        table(
          ['ID', 'NAME', 'WHEN', 'TYPE', 'OVERLAP', 'NEXT RUN', 'STATE'],
          items.map((s) => [
            s.id,
            s.name,
            when(s),
            s.job.type,
            s.overlap,
            formatTime(s.nextRunAt),
            s.paused ? out.style.yellow('paused') : 'active',
          ]),
          out.style,
        ),
      );
    },
  );

  schedules
    .command('get')
    .description('one schedule, with its last runs')
    .argument('<id>', 'schedule id')
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      const [{ body }, { body: runs }] = await Promise.all([
        ctx.client.json<ScheduleView>('GET', path(id), { signal: ctx.signal }),
        ctx.client.json<JobSummaryPage>('GET', path(id, '/runs'), {
          query: { limit: 10 },
          signal: ctx.signal,
        }),
      ]);
      if (ctx.out.json) return ctx.out.data({ ...body, runs: runs.items });
      ctx.out.line(describe(body));
      ctx.out.line(runs.items.length ? jobsTable(runs.items, ctx.out.style) : 'no runs yet');
    });

  for (const [action, done] of [
    ['pause', 'paused'],
    ['resume', 'resumed'],
  ] as const) {
    schedules
      .command(action)
      .description(
        action === 'pause'
          ? 'pause a schedule: no new runs (running ones finish)'
          : 'resume a schedule from its next tick (ticks of the pause do not run)',
      )
      .argument('<id>', 'schedule id')
      .option('--note <text>', 'why')
      .action(async (id: string, flags: { note?: string }, cmd: Command) => {
        const ctx = app.context(cmd);
        const { body } = await ctx.client.json<ScheduleView>('POST', path(id, `/${action}`), {
          body: flags.note === undefined ? {} : { note: flags.note },
          signal: ctx.signal,
        });
        if (ctx.out.json) return ctx.out.data(body);
        ctx.out.line(`${done} ${body.name}${body.paused ? '' : `, next run ${formatTime(body.nextRunAt)}`}`);
      });
  }

  schedules
    .command('trigger')
    .description('one run now, as the overlap policy allows')
    .argument('<id>', 'schedule id')
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      const { body } = await ctx.client.json<ScheduleTriggerResult>('POST', path(id, '/trigger'), {
        signal: ctx.signal,
      });
      if (ctx.out.json) return ctx.out.data(body);
      ctx.out.line(body.jobId === null ? `not run: ${body.outcome}` : `created run ${body.jobId}`);
    });

  schedules
    .command('backfill')
    .description('a run for every tick in [from, to] without one (at most 1,000 ticks)')
    .argument('<id>', 'schedule id')
    .requiredOption('--from <time>', 'first tick time (ISO-8601)', timeOption)
    .requiredOption('--to <time>', 'last tick time (ISO-8601)', timeOption)
    .action(async (id: string, flags: { from: string; to: string }, cmd: Command) => {
      const ctx = app.context(cmd);
      const { body } = await ctx.client.json<ScheduleBackfillResult>('POST', path(id, '/backfill'), {
        body: { from: flags.from, to: flags.to },
        signal: ctx.signal,
      });
      if (ctx.out.json) return ctx.out.data(body);
      ctx.out.line(`${body.ticks} ticks: ${body.created} runs created, ${body.existing} already had one`);
    });

  schedules
    .command('delete')
    .description('delete a schedule (its runs stay)')
    .argument('<id>', 'schedule id')
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      await ctx.client.json<unknown>('DELETE', path(id), { signal: ctx.signal });
      if (ctx.out.json) return ctx.out.data({ deleted: id });
      ctx.out.line(`deleted schedule ${id}`);
    });
}
