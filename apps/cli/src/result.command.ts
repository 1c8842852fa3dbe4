import type { Command } from 'commander';
import { once } from 'node:events';
import { open } from 'node:fs/promises';
import type { App, CommandContext } from './cli.context';
import { errorMessage, UsageError } from './cli.errors';

export function registerResultCommand(program: Command, app: App): void {
  program
    .command('result')
    .description("download a completed job's result (inline JSON or artifact bytes)")
    .argument('<id>', 'job id')
    .option('-o, --output <file>', 'write the result to a file ("-" for stdout)')
    .action(async (id: string, flags: { output?: string }, cmd: Command) =>
      result(app.context(cmd), id, flags.output),
    );
}

async function result(ctx: CommandContext, id: string, output: string | undefined): Promise<void> {
  const response = await ctx.client.send('GET', `/jobs/${encodeURIComponent(id)}/result`, {
    timeoutMs: null,
    signal: ctx.signal,
  });
  const contentType = response.headers.get('content-type') ?? 'application/octet-stream';
  const isJson = /[/+]json\b/.test(contentType);
  const { out } = ctx;

  if (output === undefined || output === '-') {
    if (isJson) {
      const text = await response.text();
      out.line(prettyJson(text));
      return;
    }
    // Raw audio or images would garble a terminal; pipes and `-o -` get the bytes.
    if (ctx.io.isTTY && output === undefined) {
      await response.body?.cancel();
      const size = response.headers.get('content-length');
      throw new UsageError(
        `the result is ${contentType}${size === null ? '' : `, ${size} bytes`}: write it to a file with -o FILE`,
      );
    }
    const stdout = ctx.io.stdout;
    await copyBody(response, async (chunk) => {
      if (!stdout.write(chunk)) await once(stdout, 'drain');
    });
    return;
  }

  const file = await open(output, 'w').catch((error: unknown) => {
    throw new UsageError(`cannot write ${output}: ${errorMessage(error)}`);
  });
  let bytes: number;
  try {
    bytes = await copyBody(response, async (chunk) => {
      await file.write(chunk);
    });
  } finally {
    await file.close();
  }
  if (out.json) out.data({ file: output, bytes, contentType });
  else out.line(`saved ${bytes} bytes (${contentType}) to ${output}`);
}

/** Streams the body without holding it in memory; artifacts can be large. */
async function copyBody(response: Response, write: (chunk: Uint8Array) => Promise<void>): Promise<number> {
  if (response.body === null) return 0;
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return bytes;
    bytes += value.byteLength;
    await write(value);
  }
}

function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
