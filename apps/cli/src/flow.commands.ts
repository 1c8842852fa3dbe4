import { MultiBar, type SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import {
  isJobStatus,
  type FlowActionResult,
  type FlowPage,
  type FlowView,
  type JobStatus,
  type SubmittedFlow,
} from '@switchyard/contracts';
import type { App, CommandContext } from './cli.context';
import { EXIT, type ExitCode } from './cli.errors';
import { readJsonObjectFile, withPageOptions } from './cli.options';
import { formatTime, paintStatus, table } from './format';
import type { Output } from './output';
import { readSse } from './sse.stream';

const path = (id: string, suffix = ''): string => `/flows/${encodeURIComponent(id)}${suffix}`;

/** Reconnects of a flow watch whose stream ended while the flow still ran, before giving up. */
const MAX_RECONNECTS = 20;

/** `switchyard flow submit|watch|get|list|cancel|retry` (docs/flows.md). */
export function registerFlowCommands(program: Command, app: App): void {
  const flow = program.command('flow').description('flows: jobs that depend on jobs (docs/flows.md)');

  flow
    .command('submit')
    .description('submit a flow from a JSON file ({name?, metadata?, jobs: [...]}); --watch follows it')
    .argument('<file>', 'the flow as JSON')
    .option('--idempotency-key <key>', 'the same key returns the same flow')
    .option(
      '-w, --watch',
      'one progress bar per job in dependency order; exit 0 only when the flow completes',
    )
    .action(async (file: string, flags: { idempotencyKey?: string; watch?: boolean }, cmd: Command) => {
      const ctx = app.context(cmd);
      const body = await readJsonObjectFile(file, 'flow file');
      const headers: Record<string, string> =
        flags.idempotencyKey === undefined ? {} : { 'idempotency-key': flags.idempotencyKey };
      const { body: created } = await ctx.client.json<SubmittedFlow>('POST', '/flows', {
        body,
        headers,
        signal: ctx.signal,
      });
      if (flags.watch === true) {
        if (!ctx.out.json) ctx.out.line(describeSubmitted(created));
        return app.exit(await watchFlow(ctx, created.id, created));
      }
      if (ctx.out.json) ctx.out.data(created);
      else ctx.out.line(describeSubmitted(created));
    });

  flow
    .command('watch')
    .description('follow a flow until it ends, one progress bar per job')
    .argument('<id>', 'flow id')
    .action(async (id: string, _flags: unknown, cmd: Command) =>
      app.exit(await watchFlow(app.context(cmd), id)),
    );

  flow
    .command('get')
    .description('show one flow and its jobs')
    .argument('<id>', 'flow id')
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      const { body } = await ctx.client.json<FlowView>('GET', path(id), { signal: ctx.signal });
      if (ctx.out.json) return ctx.out.data(body);
      ctx.out.line(flowHeader(body, ctx.out));
      ctx.out.line(flowJobsTable(body, ctx.out));
    });

  withPageOptions(flow.command('list').description('list flows, newest first')).action(
    async (flags: { limit?: number; cursor?: string }, cmd: Command) => {
      const ctx = app.context(cmd);
      const { body } = await ctx.client.json<FlowPage>('GET', '/flows', {
        query: { limit: flags.limit, cursor: flags.cursor },
        signal: ctx.signal,
      });
      ctx.out.page(body, 'no flows', (flows) =>
        table(
          ['ID', 'NAME', 'STATUS', 'JOBS', 'COUNTS', 'CREATED'],
          flows.map((f) => [
            f.id,
            f.name ?? '-',
            paintFlowStatus(f.status, ctx.out),
            f.total,
            countsText(f.counts),
            formatTime(f.createdAt),
          ]),
          ctx.out.style,
        ),
      );
    },
  );

  flow
    .command('cancel')
    .description('cancel every unfinished job of a flow (running ones stop within a few seconds)')
    .argument('<id>', 'flow id')
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      const { body } = await ctx.client.json<FlowActionResult>('DELETE', path(id), { signal: ctx.signal });
      if (ctx.out.json) return ctx.out.data(body);
      ctx.out.line(
        `cancelled ${body.cancelled ?? 0} job(s) of flow ${id}; ${body.cancelRequested ?? 0} running job(s) asked to stop`,
      );
    });

  flow
    .command('retry')
    .description('run the failed and cancelled jobs of a flow again, with everything downstream of them')
    .argument('<id>', 'flow id')
    .option('-w, --watch', 'follow the flow to the end')
    .action(async (id: string, flags: { watch?: boolean }, cmd: Command) => {
      const ctx = app.context(cmd);
      const { body } = await ctx.client.json<FlowActionResult>('POST', path(id, '/retry'), {
        signal: ctx.signal,
      });
      if (flags.watch === true) return app.exit(await watchFlow(ctx, id));
      if (ctx.out.json) return ctx.out.data(body);
      ctx.out.line(`re-queued ${body.retried ?? 0} job(s) of flow ${id}`);
    });
}

function describeSubmitted(flow: SubmittedFlow): string {
  return `${flow.deduplicated ? 'deduplicated' : 'submitted'} flow ${flow.id} (${flow.total} jobs${flow.name ? `, ${flow.name}` : ''})`;
}

function countsText(counts: Record<string, number>): string {
  return Object.entries(counts)
    .map(([status, n]) => `${status} ${n}`)
    .join(', ');
}

function paintFlowStatus(status: FlowView['status'], out: Output): string {
  return status === 'running' ? out.style.cyan(status) : paintStatus(status, out.style);
}

function flowHeader(flow: FlowView, out: Output): string {
  return [
    `flow ${flow.id}${flow.name ? ` (${flow.name})` : ''}: ${paintFlowStatus(flow.status, out)}`,
    `${flow.total} jobs: ${countsText(flow.counts)}`,
  ].join('\n');
}

function flowJobsTable(flow: FlowView, out: Output): string {
  return table(
    ['REF', 'TYPE', 'STATUS', 'PROGRESS', 'DEPENDS ON', 'ID'],
    flow.jobs.map((j) => [
      j.ref,
      j.type,
      paintStatus(j.status, out.style) + (j.error ? ` (${j.error.code})` : ''),
      `${Math.round(j.progress)}%`,
      j.dependsOn.join(',') || '-',
      j.id,
    ]),
    out.style,
  );
}

/** One job's line in a flow watch. */
interface JobLine {
  ref: string;
  status: JobStatus;
  progress: number;
  step: string | null;
}

/**
 * Shows one bar per job of the flow, in dependency order (jobs spawned meanwhile are added as
 * their events arrive), driven by the flow's event stream; ends with the flow's outcome. Exit code:
 * 0 completed, 3 failed, 4 cancelled.
 */
export async function watchFlow(ctx: CommandContext, id: string, initial?: FlowView): Promise<ExitCode> {
  const display = createFlowDisplay(ctx.out);
  let flow = initial;
  try {
    for (let reconnects = 0; reconnects <= MAX_RECONNECTS; reconnects++) {
      const response = await ctx.client.send('GET', path(id, '/events'), {
        headers: { accept: 'text/event-stream' },
        signal: ctx.signal,
        timeoutMs: null,
      });
      if (!response.body) break;
      await readSse(response.body, (message) => {
        if (message.event === 'snapshot') {
          flow = JSON.parse(message.data) as FlowView;
          for (const job of flow.jobs) display.set(job.id, job);
          return;
        }
        const data = (JSON.parse(message.data) as { data?: Record<string, unknown> }).data;
        if (!data || typeof data['jobId'] !== 'string' || !isJobStatus(data['status'])) return;
        display.set(data['jobId'], {
          ref: typeof data['ref'] === 'string' ? data['ref'] : undefined,
          status: data['status'],
          progress: typeof data['progress'] === 'number' ? data['progress'] : 0,
          step: typeof data['step'] === 'string' ? data['step'] : null,
        });
      });
      flow = (await ctx.client.json<FlowView>('GET', path(id), { signal: ctx.signal })).body;
      for (const job of flow.jobs) display.set(job.id, job);
      if (flow.status !== 'running') break;
    }
  } catch (error) {
    display.stop();
    if (ctx.signal?.aborted === true) {
      ctx.out.error(`stopped watching flow ${id}; it keeps running (switchyard flow watch ${id})`);
      return EXIT.interrupted;
    }
    throw error;
  }
  display.stop();
  if (!flow) return EXIT.error;
  if (ctx.out.json) ctx.out.data(flow);
  else {
    const mark =
      flow.status === 'completed'
        ? ctx.out.style.green('✔')
        : flow.status === 'running'
          ? '…'
          : ctx.out.style.red('✖');
    ctx.out.line(
      `${mark} flow ${flow.id} ${paintFlowStatus(flow.status, ctx.out)}: ${countsText(flow.counts)}`,
    );
    for (const job of flow.jobs.filter((j) => j.error)) {
      ctx.out.error(`  ${job.ref}: ${job.status} (${job.error?.code}: ${job.error?.message})`);
    }
  }
  if (flow.status === 'failed') return EXIT.jobFailed;
  if (flow.status === 'cancelled') return EXIT.jobCancelled;
  return flow.status === 'completed' ? EXIT.ok : EXIT.error;
}

interface JobUpdate {
  ref?: string;
  status: JobStatus;
  progress: number;
  step: string | null;
}

interface FlowDisplay {
  /** A job's latest state; a job not seen before gets its line (ref unknown: its id until known). */
  set(jobId: string, update: JobUpdate): void;
  stop(): void;
}

function createFlowDisplay(out: Output): FlowDisplay {
  if (out.json) return { set: () => undefined, stop: () => undefined };
  return out.io.isTTY ? new BarsDisplay(out) : new LinesDisplay(out);
}

/** A job's line from an update; its ref from the update, else the one known, else its id's start. */
function lineOf(jobId: string, update: JobUpdate, knownRef: string | undefined): JobLine {
  return {
    ref: update.ref ?? knownRef ?? jobId.slice(0, 8),
    status: update.status,
    progress: update.status === 'completed' ? 100 : update.progress,
    step: update.step,
  };
}

const label = (line: JobLine) =>
  `${line.status}${line.status === 'running' && line.step ? ` · ${line.step}` : ''}`;

/** A terminal: one redrawn bar per job, added in the order the snapshot lists them (dependency order). */
class BarsDisplay implements FlowDisplay {
  private readonly bars: MultiBar;
  private readonly lines = new Map<string, { line: JobLine; bar: SingleBar }>();
  private readonly width = 16;

  constructor(out: Output) {
    this.bars = new MultiBar({
      fps: 10,
      barsize: 24,
      hideCursor: true,
      format: ' {ref} {bar} {percentage}% {state}',
      barCompleteChar: '█',
      barIncompleteChar: '░',
      stream: out.io.stdout,
    });
  }

  set(jobId: string, update: JobUpdate): void {
    const known = this.lines.get(jobId);
    const line = lineOf(jobId, update, known?.line.ref);
    const payload = { ref: line.ref.padEnd(this.width).slice(0, this.width), state: label(line) };
    if (known) {
      known.line = line;
      known.bar.update(line.progress, payload);
    } else {
      this.lines.set(jobId, { line, bar: this.bars.create(100, line.progress, payload) });
    }
  }

  stop(): void {
    this.bars.stop();
  }
}

/** Logs and pipes: one line per visible change of a job. */
class LinesDisplay implements FlowDisplay {
  private readonly last = new Map<string, { ref: string; key: string }>();

  constructor(private readonly out: Output) {}

  set(jobId: string, update: JobUpdate): void {
    const known = this.last.get(jobId);
    const line = lineOf(jobId, update, known?.ref);
    const key = `${line.status}|${Math.floor(line.progress / 10)}|${line.step ?? ''}`;
    if (known?.key === key) return;
    this.last.set(jobId, { ref: line.ref, key });
    this.out.line(`${line.ref} ${String(Math.floor(line.progress)).padStart(3)}% ${label(line)}`);
  }

  stop(): void {
    this.last.clear();
  }
}
