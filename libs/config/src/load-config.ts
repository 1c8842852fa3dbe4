import Ajv from 'ajv';
import type { Static, TObject } from '@sinclair/typebox';
import { config as readDotenv } from 'dotenv';

export class ConfigError extends Error {
  constructor(readonly problems: { variable: string; message: string }[]) {
    super(`invalid configuration: ${problems.map((p) => `${p.variable} ${p.message}`).join('; ')}`);
  }
}

const ajv = new Ajv({ coerceTypes: true, useDefaults: true, allErrors: true, strict: false });

/**
 * Parses the environment into a typed object, once per app. Unknown variables are ignored; every
 * bad one is named in the error. Empty strings count as unset so `.env` lines like `X=` keep defaults.
 */
export function loadConfig<T extends TObject>(schema: T, env: NodeJS.ProcessEnv = process.env): Static<T> {
  const input: Record<string, unknown> = {};
  for (const key of Object.keys(schema.properties)) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const validate = ajv.compile(schema);
  if (!validate(input)) {
    const problems = (validate.errors ?? []).map((e) => ({
      variable: e.instancePath.replace(/^\//, '') || String(e.params['missingProperty'] ?? '(root)'),
      message: `${e.message ?? 'is invalid'} (got ${JSON.stringify(input[e.instancePath.slice(1)] ?? null)})`,
    }));
    throw new ConfigError(dedupe(problems));
  }
  return input;
}

function dedupe(problems: { variable: string; message: string }[]) {
  const seen = new Map<string, { variable: string; message: string }>();
  for (const p of problems) if (!seen.has(p.variable)) seen.set(p.variable, p);
  return [...seen.values()];
}

/** Reads `.env` (when present, never overriding the real environment) into `process.env`. */
export function readEnvFile(path = '.env'): void {
  readDotenv({ path, quiet: true });
}

/** For app entry points: load or print every bad variable and exit non-zero. */
export function loadConfigOrExit<T extends TObject>(schema: T, service: string): Static<T> {
  readEnvFile();
  try {
    return loadConfig(schema);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(
        `${JSON.stringify({
          time: new Date().toISOString(),
          level: 'fatal',
          service,
          msg: error.message,
          invalidVariables: error.problems.map((p) => p.variable),
        })}\n`,
      );
      process.exit(1);
    }
    throw error;
  }
}

/**
 * The raw environment, for the `switchyard` command: a client resolves flags, environment and its
 * config file per invocation rather than validating a service schema at start.
 */
export function processEnvironment(): Readonly<Record<string, string | undefined>> {
  return process.env;
}
