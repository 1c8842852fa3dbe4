import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { run } from '../src/cli';
import type { Env } from '../src/settings';

export class Capture extends Writable {
  text = '';
  override _write(
    chunk: Buffer | string,
    _encoding: BufferEncoding,
    done: (error?: Error | null) => void,
  ): void {
    this.text += chunk.toString();
    done();
  }
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** A home with no config file, so the developer's own ~/.config never leaks into a test. */
export const emptyHome = mkdtempSync(join(tmpdir(), 'switchyard-cli-home-'));

export async function runCli(args: string[], env: Env = {}, isTTY = false): Promise<CliRun> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await run(args, { stdout, stderr, env: { HOME: emptyHome, ...env }, isTTY });
  return { code, stdout: stdout.text, stderr: stderr.text };
}
