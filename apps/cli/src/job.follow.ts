import type { JobView } from '@switchyard/contracts';
import type { CommandContext } from './cli.context';
import { EXIT, type ExitCode } from './cli.errors';
import { compactJson, formatDuration } from './format';
import { watchJob } from './job.watch';
import type { Output } from './output';
import { createProgressView, jobDurationMs } from './progress.view';

/** Shows a job's progress until it ends; the exit code says how it ended. */
export async function followJob(ctx: CommandContext, id: string, initial?: JobView): Promise<ExitCode> {
  const view = createProgressView(ctx.out);
  let job: JobView;
  try {
    job = await watchJob(ctx.client, id, initial, { onUpdate: (p) => view.update(p), signal: ctx.signal });
  } catch (error) {
    view.stop();
    if (ctx.signal?.aborted === true) {
      ctx.out.error(`stopped watching ${id}; the job keeps running (switchyard watch ${id})`);
      return EXIT.interrupted;
    }
    throw error;
  }
  view.stop();
  return reportOutcome(ctx.out, job);
}

export function reportOutcome(out: Output, job: JobView): ExitCode {
  const code = exitCodeOf(job);
  if (out.json) {
    out.data(job);
    return code;
  }
  const { style } = out;
  const ranFor = jobDurationMs(job);
  const took = ranFor === undefined ? '' : ` in ${formatDuration(ranFor)}`;
  switch (job.status) {
    case 'completed':
      out.line(`${style.green('✔')} completed ${job.id}${took}`);
      if (job.resultUrl !== null) {
        out.line(`result: ${job.resultUrl}  ${style.dim(`(save it: switchyard result ${job.id} -o FILE)`)}`);
      } else if (job.result !== null && job.result !== undefined) {
        out.line(`result: ${compactJson(job.result, 2000)}`);
      }
      break;
    case 'failed':
      out.error(
        `${style.red('✖')} failed ${job.id}${took}: ${job.error === null ? 'unknown error' : `${style.bold(job.error.code)}: ${job.error.message}`}`,
      );
      break;
    case 'cancelled':
      out.error(
        `${style.yellow('✖')} cancelled ${job.id}${job.error === null ? '' : `: ${style.bold(job.error.code)}: ${job.error.message}`}`,
      );
      break;
    case 'scheduled':
    case 'waiting':
    case 'queued':
    case 'running':
    case 'retrying':
      out.line(`${job.id} is ${job.status}`);
      break;
  }
  return code;
}

function exitCodeOf(job: JobView): ExitCode {
  if (job.status === 'failed') return EXIT.jobFailed;
  if (job.status === 'cancelled') return EXIT.jobCancelled;
  return EXIT.ok;
}
