import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { processEnvironment } from '@switchyard/config';
import { errorCode, errorMessage, UsageError } from './cli.errors';

export type Env = Readonly<Record<string, string | undefined>>;

/** Where the CLI writes and what it knows about its terminal; `run` takes it so tests can fake it. */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: Env;
  isTTY: boolean;
  /** Aborted on Ctrl-C, so a watch can stop cleanly and say the job keeps running. */
  signal?: AbortSignal;
}

/** The one place that takes the process's environment and streams. */
export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: processEnvironment(),
    isTTY: process.stdout.isTTY === true,
  };
}

/** Flags that can override settings; every one of them may also come from the env or config file. */
export interface SettingFlags {
  url?: string;
  apiKey?: string;
  config?: string;
  workerUrl?: string;
  trackerUrl?: string;
  metricsUrl?: string;
  databaseUrl?: string;
  amqpUrl?: string;
  redisUrl?: string;
}

export interface Settings {
  /** Gateway origin without the `/api/v1` base path, e.g. `http://127.0.0.1:3000`. */
  url: string;
  apiKey: string | undefined;
  services: { gateway: string; worker: string; 'progress-tracker': string; metrics: string };
  dependencies: { postgres: string; rabbitmq: string; redis: string };
  /** The config file that was read, if any. */
  configFile: string | undefined;
}

const CONFIG_KEYS = [
  'url',
  'apiKey',
  'workerUrl',
  'trackerUrl',
  'metricsUrl',
  'databaseUrl',
  'amqpUrl',
  'redisUrl',
] as const;
type ConfigKey = (typeof CONFIG_KEYS)[number];
export type ConfigFile = Partial<Record<ConfigKey, string>>;

export const DEFAULTS = {
  url: 'http://127.0.0.1:3000',
  databaseUrl: 'postgres://postgres@127.0.0.1:5432/switchyard',
  amqpUrl: 'amqp://guest:guest@127.0.0.1:5672',
  redisUrl: 'redis://127.0.0.1:6379',
  workerPort: 3001,
  trackerPort: 3002,
  metricsPort: 3003,
} as const;

/** Flags win over the environment, which wins over the config file, which wins over defaults. */
export function loadSettings(flags: SettingFlags, env: Env): Settings {
  const { file, path } = readConfigFile(flags.config ?? env.SWITCHYARD_CONFIG, env);
  const pick = (flag: string | undefined, envName: string, key: ConfigKey): string | undefined =>
    nonEmpty(flag) ?? nonEmpty(env[envName]) ?? nonEmpty(file[key]);

  const url = normaliseUrl(pick(flags.url, 'SWITCHYARD_URL', 'url') ?? DEFAULTS.url, 'url');
  const sibling = (port: number): string => {
    const u = new URL(url);
    u.port = String(port);
    return u.origin;
  };
  return {
    url,
    apiKey: pick(flags.apiKey, 'SWITCHYARD_API_KEY', 'apiKey'),
    services: {
      gateway: url,
      worker: normaliseUrl(
        pick(flags.workerUrl, 'SWITCHYARD_WORKER_URL', 'workerUrl') ?? sibling(DEFAULTS.workerPort),
        'worker url',
      ),
      'progress-tracker': normaliseUrl(
        pick(flags.trackerUrl, 'SWITCHYARD_TRACKER_URL', 'trackerUrl') ?? sibling(DEFAULTS.trackerPort),
        'tracker url',
      ),
      metrics: normaliseUrl(
        pick(flags.metricsUrl, 'SWITCHYARD_METRICS_URL', 'metricsUrl') ?? sibling(DEFAULTS.metricsPort),
        'metrics url',
      ),
    },
    dependencies: {
      postgres: pick(flags.databaseUrl, 'DATABASE_URL', 'databaseUrl') ?? DEFAULTS.databaseUrl,
      rabbitmq: pick(flags.amqpUrl, 'AMQP_URL', 'amqpUrl') ?? DEFAULTS.amqpUrl,
      redis: pick(flags.redisUrl, 'REDIS_URL', 'redisUrl') ?? DEFAULTS.redisUrl,
    },
    configFile: path,
  };
}

export function defaultConfigPath(env: Env): string {
  const base = nonEmpty(env.XDG_CONFIG_HOME) ?? join(nonEmpty(env.HOME) ?? homedir(), '.config');
  return join(base, 'switchyard', 'config.json');
}

/** Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function colourEnabled(env: Env, isTTY: boolean, argv: readonly string[]): boolean {
  if (argv.includes('--no-color') || nonEmpty(env.NO_COLOR) !== undefined) return false;
  if (nonEmpty(env.FORCE_COLOR) !== undefined && env.FORCE_COLOR !== '0') return true;
  return isTTY && env.TERM !== 'dumb';
}

function readConfigFile(explicit: string | undefined, env: Env): { file: ConfigFile; path?: string } {
  const path = nonEmpty(explicit) ?? defaultConfigPath(env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    // The default file is optional; a file the user named must exist.
    if (explicit === undefined && errorCode(error) === 'ENOENT') return { file: {} };
    throw new UsageError(`cannot read config file ${path}: ${errorMessage(error)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`config file ${path} is not valid JSON: ${errorMessage(error)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(`config file ${path} must hold a JSON object like {"url": "…", "apiKey": "…"}`);
  }
  const file: ConfigFile = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (!isConfigKey(key)) {
      throw new UsageError(`config file ${path}: unknown key "${key}" (known: ${CONFIG_KEYS.join(', ')})`);
    }
    if (typeof value !== 'string') throw new UsageError(`config file ${path}: "${key}" must be a string`);
    file[key] = value;
  }
  return { file, path };
}

function normaliseUrl(value: string, what: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new UsageError(`${what} "${value}" is not a URL (expected e.g. http://127.0.0.1:3000)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new UsageError(`${what} "${value}" must start with http:// or https://, e.g. http://${value}`);
  }
  // Accept the API base path too, since that is what users copy from the docs.
  const path = u.pathname.replace(/\/+$/, '').replace(/\/api\/v1$/, '');
  return `${u.origin}${path}`;
}

function isConfigKey(key: string): key is ConfigKey {
  return (CONFIG_KEYS as readonly string[]).includes(key);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
