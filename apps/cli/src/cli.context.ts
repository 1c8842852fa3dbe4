import type { Command } from 'commander';
import { ApiClient } from './api.client';
import { type ExitCode } from './cli.errors';
import { Output, createStyle } from './output';
import { loadSettings, type CliIo, type SettingFlags, type Settings } from './settings';

export interface GlobalFlags extends SettingFlags {
  json?: boolean;
  color?: boolean;
}

/** What every command handler gets: output, settings and an API client, built from its flags. */
export class CommandContext {
  readonly out: Output;
  private cachedSettings: Settings | undefined;
  private cachedClient: ApiClient | undefined;

  constructor(
    readonly io: CliIo,
    private readonly flags: GlobalFlags,
    colour: boolean,
  ) {
    this.out = new Output(io, flags.json === true, createStyle(colour && flags.color !== false));
  }

  get settings(): Settings {
    this.cachedSettings ??= loadSettings(this.flags, this.io.env);
    return this.cachedSettings;
  }

  get client(): ApiClient {
    this.cachedClient ??= new ApiClient(this.settings.url, this.settings.apiKey);
    return this.cachedClient;
  }

  get signal(): AbortSignal | undefined {
    return this.io.signal;
  }
}

/** The glue between commander and handlers: builds a context and records the exit code. */
export interface App {
  context(command: Command): CommandContext;
  exit(code: ExitCode): void;
}
