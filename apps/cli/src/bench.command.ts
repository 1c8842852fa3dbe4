import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { App, CommandContext } from './cli.context';
import { CliError, EXIT, type ExitCode } from './cli.errors';

export function registerBenchCommand(program: Command, app: App): void {
  program
    .command('bench')
    .description(
      'run the benchmark (`npm run bench` in the Switchyard repository); extra arguments are passed on',
    )
    .argument('[args...]', 'arguments for the benchmark')
    .option(
      '--dir <dir>',
      'the Switchyard repository (default: the one this CLI belongs to, else the current one)',
    )
    .allowUnknownOption()
    .action(async (args: string[], flags: { dir?: string }, cmd: Command) =>
      app.exit(await bench(app.context(cmd), args, flags.dir)),
    );
}

async function bench(
  ctx: CommandContext,
  args: readonly string[],
  dir: string | undefined,
): Promise<ExitCode> {
  const root = dir === undefined ? findRepository() : resolve(dir);
  if (root === undefined || !existsSync(join(root, 'package.json'))) {
    throw new CliError('cannot find the Switchyard repository: run this inside it or pass --dir', EXIT.usage);
  }
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const child = spawn(npm, ['run', 'bench', ...(args.length > 0 ? ['--', ...args] : [])], {
    cwd: root,
    env: { ...ctx.io.env },
    stdio: ['inherit', 'pipe', 'pipe'],
  });
  child.stdout.pipe(ctx.io.stdout, { end: false });
  child.stderr.pipe(ctx.io.stderr, { end: false });
  const code = await new Promise<number>((done, fail) => {
    child.once('error', fail);
    child.once('close', (exitCode, signal) => done(exitCode ?? (signal === null ? 1 : 128)));
  });
  return code === 0 ? EXIT.ok : EXIT.error;
}

/** The repository this CLI was built from (dist/apps/cli/src → root), else the working directory's. */
function findRepository(): string | undefined {
  for (const start of [__dirname, process.cwd()]) {
    let dir = start;
    for (;;) {
      if (isSwitchyardRoot(dir)) return dir;
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  return undefined;
}

function isSwitchyardRoot(dir: string): boolean {
  try {
    const pkg: unknown = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    return typeof pkg === 'object' && pkg !== null && (pkg as Record<string, unknown>).name === 'switchyard';
  } catch {
    return false;
  }
}
