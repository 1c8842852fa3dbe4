import { Command, CommanderError } from 'commander';
import { ApiRequestError, ConnectionError } from './api.client';
import { registerBenchCommand } from './bench.command';
import { CommandContext, type App, type GlobalFlags } from './cli.context';
import { CliError, errorMessage, EXIT } from './cli.errors';
import { registerDlqCommands } from './dlq.commands';
import { registerDoctorCommand } from './doctor.command';
import { registerFlowCommands } from './flow.commands';
import { registerJobCommands } from './jobs.commands';
import { registerKeysCommands } from './keys.commands';
import { registerLogsCommand } from './logs.command';
import { createStyle, type Style } from './output';
import { registerQueuesCommand } from './queues.command';
import { registerLimitsCommand } from './limits.command';
import { registerResultCommand } from './result.command';
import { registerScheduleCommands } from './schedules.commands';
import { colourEnabled, type CliIo } from './settings';

export const VERSION = '0.1.0';

/** Runs one `switchyard` invocation and returns its exit code; it never exits the process. */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const colour = colourEnabled(io.env, io.isTTY, argv);
  const state = { code: EXIT.ok as number };
  const app: App = {
    context: (command) => new CommandContext(io, command.optsWithGlobals<GlobalFlags>(), colour),
    exit: (code) => {
      state.code = code;
    },
  };
  const program = buildProgram(io, colour, app);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return state.code;
  } catch (error) {
    return report(error, io, createStyle(colour), argv.includes('--json'));
  }
}

function buildProgram(io: CliIo, colour: boolean, app: App): Command {
  const program = new Command('switchyard')
    .description('Switchyard job platform client')
    .version(VERSION)
    .option('--url <url>', 'gateway URL (env SWITCHYARD_URL; default http://127.0.0.1:3000)')
    .option('--api-key <key>', 'API key (env SWITCHYARD_API_KEY)')
    .option(
      '--config <file>',
      'config file (env SWITCHYARD_CONFIG; default ~/.config/switchyard/config.json)',
    )
    .option('--json', 'print JSON for scripts')
    .option('--no-color', 'no colour even on a terminal')
    // Set before adding commands: subcommands copy these settings when they are created.
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      getOutHasColors: () => colour,
      getErrHasColors: () => colour,
    })
    .showSuggestionAfterError()
    .addHelpText(
      'after',
      [
        '',
        'Exit codes: 0 ok, 1 API error or failed check, 2 usage, 3 job (or flow) failed, 4 job (or flow) cancelled,',
        '            5 API unreachable, 130 interrupted while watching.',
      ].join('\n'),
    );
  registerJobCommands(program, app);
  registerResultCommand(program, app);
  registerFlowCommands(program, app);
  registerLogsCommand(program, app);
  registerDlqCommands(program, app);
  registerQueuesCommand(program, app);
  registerLimitsCommand(program, app);
  registerScheduleCommands(program, app);
  registerKeysCommands(program, app);
  registerDoctorCommand(program, app);
  registerBenchCommand(program, app);
  return program;
}

function report(error: unknown, io: CliIo, style: Style, json: boolean): number {
  const write = (line: string): void => {
    io.stderr.write(`${line}\n`);
  };
  if (io.signal?.aborted === true) {
    write('interrupted');
    return EXIT.interrupted;
  }
  if (error instanceof CommanderError) {
    // commander has already printed its message (or the help).
    return error.code === 'commander.helpDisplayed' || error.code === 'commander.version'
      ? EXIT.ok
      : EXIT.usage;
  }
  if (error instanceof ApiRequestError) {
    if (json) {
      write(JSON.stringify(error.body ?? { error: { code: error.code, message: error.message } }));
    } else {
      write(
        `${style.red('error')}: ${style.bold(error.code)}: ${error.message} ${style.dim(`(HTTP ${error.status})`)}`,
      );
      for (const d of error.details) {
        const where = [d.index === undefined ? undefined : `#${d.index}`, d.field].filter(
          (p) => p !== undefined,
        );
        write(`  - ${where.length > 0 ? `${where.join(' ')}: ` : ''}${d.message}`);
      }
      if (error.correlationId !== undefined) write(style.dim(`  correlation id: ${error.correlationId}`));
      for (const hint of error.hints) write(style.dim(`  hint: ${hint}`));
    }
    return error.exitCode;
  }
  if (error instanceof CliError) {
    const code = error instanceof ConnectionError ? error.code : undefined;
    if (json) {
      write(JSON.stringify({ error: { code: code ?? 'cli_error', message: error.message } }));
    } else {
      write(`${style.red('error')}: ${code === undefined ? '' : `${style.bold(code)}: `}${error.message}`);
      for (const hint of error.hints) write(style.dim(`  hint: ${hint}`));
    }
    return error.exitCode;
  }
  const message = errorMessage(error);
  write(
    json
      ? JSON.stringify({ error: { code: 'internal_error', message } })
      : `${style.red('error')}: ${message}`,
  );
  return EXIT.error;
}
