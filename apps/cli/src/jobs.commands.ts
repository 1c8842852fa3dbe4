import type { Command } from 'commander';
import type { JobSubmission, JobSummaryPage, JobView, SubmittedJob } from '@switchyard/contracts';
import type { App, CommandContext } from './cli.context';
import { EXIT, UsageError, type ExitCode } from './cli.errors';
import {
  integerOption,
  parseJsonObject,
  priorityOption,
  readJsonObjectFile,
  statusOption,
} from './cli.options';
import { formatDuration, jobDetails, jobsTable, paintStatus } from './format';
import { followJob } from './job.follow';
import { getJob } from './job.watch';

interface SubmitFlags {
  payload?: string;
  payloadFile?: string;
  priority?: number;
  watch?: boolean;
  idempotencyKey?: string;
  timeoutMs?: number;
  maxAttempts?: number;
  metadata?: string;
  dedupe?: boolean;
}

interface ListFlags {
  status?: string;
  type?: string;
  queue?: string;
  limit?: number;
  cursor?: string;
  createdAfter?: string;
  createdBefore?: string;
}

const path = (id: string, suffix = ''): string => `/jobs/${encodeURIComponent(id)}${suffix}`;

export function registerJobCommands(program: Command, app: App): void {
  program
    .command('submit')
    .description('submit a job; with --watch, follow it to the end with a progress bar')
    .argument('<type>', 'job type, e.g. synthetic, audio.analyze')
    .option('--payload <json>', 'payload as a JSON object')
    .option('--payload-file <file>', 'read the payload from a JSON file')
    .option('--priority <priority>', '0–9 or low, normal, high, critical', priorityOption)
    .option('--idempotency-key <key>', 'the same key returns the same job')
    .option('--timeout-ms <ms>', 'job timeout', integerOption(1))
    .option('--max-attempts <n>', 'attempts before the job fails (1–20)', integerOption(1, 20))
    .option('--metadata <json>', 'metadata as a JSON object')
    .option('--no-dedupe', 'accept an identical job submitted moments ago as a new one')
    .option('-w, --watch', 'follow the job; exit 0 when it completes, non-zero when it fails or is cancelled')
    .action(async (type: string, flags: SubmitFlags, cmd: Command) =>
      app.exit(await submit(app.context(cmd), type, flags)),
    );

  program
    .command('watch')
    .description("follow a job's progress until it ends")
    .argument('<id>', 'job id')
    .action(async (id: string, _flags: unknown, cmd: Command) =>
      app.exit(await followJob(app.context(cmd), id)),
    );

  program
    .command('get')
    .description('show one job')
    .argument('<id>', 'job id')
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      const job = await getJob(ctx.client, id, ctx.signal);
      if (ctx.out.json) ctx.out.data(job);
      else ctx.out.line(jobDetails(job, ctx.out.style));
    });

  program
    .command('list')
    .description('list jobs, newest first')
    .option('--status <status>', 'queued, running, retrying, completed, failed or cancelled', statusOption)
    .option('--type <type>', 'job type')
    .option('--queue <queue>', 'queue name')
    .option('--created-after <time>', 'ISO-8601 time')
    .option('--created-before <time>', 'ISO-8601 time')
    .option('--limit <n>', 'at most this many (1–200)', integerOption(1, 200))
    .option('--cursor <cursor>', 'the next page, from a previous list')
    .action(async (flags: ListFlags, cmd: Command) => list(app.context(cmd), flags));

  program
    .command('cancel')
    .description('cancel a job (a running job stops within a few seconds)')
    .argument('<id>', 'job id')
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      const { status, body } = await ctx.client.json<JobView>('DELETE', path(id), { signal: ctx.signal });
      if (ctx.out.json) return ctx.out.data(body);
      if (status === 202)
        ctx.out.line(`cancel requested for ${id}: it is running and stops within a few seconds`);
      else ctx.out.line(`${paintStatus('cancelled', ctx.out.style)} ${id}`);
    });

  program
    .command('retry')
    .description('run a failed or cancelled job again (attempts reset)')
    .argument('<id>', 'job id')
    .option('-w, --watch', 'follow the job to the end')
    .action(async (id: string, flags: { watch?: boolean }, cmd: Command) => {
      const ctx = app.context(cmd);
      const { body } = await ctx.client.json<JobView>('POST', path(id, '/retry'), { signal: ctx.signal });
      if (flags.watch === true) return app.exit(await followJob(ctx, body.id, body));
      if (ctx.out.json) ctx.out.data(body);
      else ctx.out.line(`re-queued ${body.id} (${paintStatus(body.status, ctx.out.style)})`);
    });
}

async function submit(ctx: CommandContext, type: string, flags: SubmitFlags): Promise<ExitCode> {
  const request: JobSubmission = { type, payload: await payloadOf(flags) };
  if (flags.priority !== undefined) request.priority = flags.priority;
  if (flags.idempotencyKey !== undefined) request.idempotencyKey = flags.idempotencyKey;
  if (flags.timeoutMs !== undefined) request.timeoutMs = flags.timeoutMs;
  if (flags.maxAttempts !== undefined) request.maxAttempts = flags.maxAttempts;
  if (flags.metadata !== undefined) request.metadata = parseJsonObject(flags.metadata, '--metadata');
  if (flags.dedupe === false) request.dedupe = false;

  const { body: job } = await ctx.client.json<SubmittedJob>('POST', '/jobs', {
    body: request,
    signal: ctx.signal,
  });
  const { out } = ctx;
  if (flags.watch === true) {
    if (!out.json) out.line(describeSubmitted(job));
    return followJob(ctx, job.id, job);
  }
  if (out.json) out.data(job);
  else out.line(describeSubmitted(job));
  return EXIT.ok;
}

export async function payloadOf(
  flags: Pick<SubmitFlags, 'payload' | 'payloadFile'>,
): Promise<Record<string, unknown>> {
  if (flags.payload !== undefined && flags.payloadFile !== undefined) {
    throw new UsageError('use either --payload or --payload-file, not both');
  }
  if (flags.payload !== undefined) return parseJsonObject(flags.payload, '--payload');
  if (flags.payloadFile !== undefined) return readJsonObjectFile(flags.payloadFile, 'payload file');
  return {};
}

function describeSubmitted(job: SubmittedJob): string {
  const how = job.cached === true ? 'cache hit' : job.deduplicated === true ? 'deduplicated' : 'submitted';
  const wait =
    job.status === 'queued' && job.estimatedWaitMs !== undefined
      ? `, est. wait ${formatDuration(job.estimatedWaitMs)}`
      : '';
  return `${how} ${job.id} (${job.type} → ${job.queue}, priority ${job.priority}, ${job.status}${wait})`;
}

async function list(ctx: CommandContext, flags: ListFlags): Promise<void> {
  const { body } = await ctx.client.json<JobSummaryPage>('GET', '/jobs', {
    query: {
      status: flags.status,
      type: flags.type,
      queue: flags.queue,
      createdAfter: flags.createdAfter,
      createdBefore: flags.createdBefore,
      limit: flags.limit,
      cursor: flags.cursor,
    },
    signal: ctx.signal,
  });
  ctx.out.page(body, 'no jobs', (jobs) => jobsTable(jobs, ctx.out.style));
}
