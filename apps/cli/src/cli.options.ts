import { InvalidArgumentError, type Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { JOB_STATUSES, PRIORITY_NAMES, parsePriority } from '@switchyard/contracts';
import { errorMessage, UsageError } from './cli.errors';

/** `--priority 7` or `--priority high`. */
export function priorityOption(value: string): number {
  const parsed = parsePriority(/^\d+$/.test(value) ? Number(value) : value);
  if (parsed === undefined) {
    throw new InvalidArgumentError(`expected 0–9 or one of ${Object.keys(PRIORITY_NAMES).join(', ')}`);
  }
  return parsed;
}

export function integerOption(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max)
      throw new InvalidArgumentError(`expected an integer ${min}–${max}`);
    return n;
  };
}

export function statusOption(value: string): string {
  for (const part of value.split(',')) {
    if (!(JOB_STATUSES as readonly string[]).includes(part)) {
      throw new InvalidArgumentError(`expected one of ${JOB_STATUSES.join(', ')}`);
    }
  }
  return value;
}

export function parseJsonObject(text: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${what} is not valid JSON: ${errorMessage(error)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(`${what} must be a JSON object, e.g. '{"durationMs": 3000}'`);
  }
  return value as Record<string, unknown>;
}

export async function readJsonObjectFile(path: string, what: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${what} ${path}: ${errorMessage(error)}`);
  }
  return parseJsonObject(text, `${what} ${path}`);
}

/** `--limit` and `--cursor` of a list command that pages through the API's cursor pages. */
export function withPageOptions(command: Command): Command {
  return command
    .option('--limit <n>', 'at most this many (1–200)', integerOption(1, 200))
    .option('--cursor <cursor>', 'the next page, from a previous list');
}
