import { spawn } from 'node:child_process';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');
export const CLI = join(ROOT, 'dist/apps/cli/src/main.js');

/** Runs the built `switchyard` command, optionally inside a pseudo-terminal (util-linux `script`). */
export function switchyard(
  args: string[],
  env: Record<string, string>,
  tty = false,
): Promise<{ code: number | null; output: string }> {
  const quoted = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const [command, argv] = tty
    ? ['script', ['-qfec', `stty cols 120 rows 40; exec ${quoted}`, '/dev/null']]
    : [process.execPath, [CLI, ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', TERM: 'xterm', ...env },
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
  });
}
