import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FakeApi } from '../test/fake-api';
import { emptyHome } from '../test/run-cli';
import { EXIT } from './cli.errors';

/**
 * The built `switchyard` in a real pseudo-terminal (util-linux `script`), against the fake API:
 * what a user sees when they run `submit --watch` in their terminal.
 */
const root = resolve(__dirname, '../../..');
const main = join(root, 'dist/apps/cli/src/main.js');

/** `npm test` builds before it runs the tests; this runs the build's output as users do. */
function ensureBuilt(): void {
  if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first`);
}

const quote = (arg: string): string => `'${arg.replace(/'/g, `'\\''`)}'`;

function inTerminal(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  const command = `stty cols 120 rows 40; exec ${[process.execPath, main, ...args].map(quote).join(' ')}`;
  return new Promise((done, fail) => {
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: emptyHome, TERM: 'xterm-256color', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', fail);
    child.once('close', (code) => done({ code, output }));
  });
}

const ESC = String.fromCharCode(27);
const stripAnsi = (text: string): string =>
  text.replace(new RegExp(`${ESC}(\\[[0-9;?]*[A-Za-z]|[78])`, 'g'), '');
/** What is left on screen of each line: the text after the last carriage return or cursor-to-column-1. */
const screenLines = (text: string): string[] =>
  stripAnsi(text.replaceAll(`${ESC}[1G`, '\r'))
    .split('\n')
    .map(
      (line) =>
        line
          .split('\r')
          .filter((part) => part.trim() !== '')
          .pop() ?? '',
    )
    .filter((line) => line.trim() !== '');

describe('switchyard in a pseudo-terminal', () => {
  let api: FakeApi;

  beforeAll(() => ensureBuilt(), 60_000);
  beforeEach(async () => {
    api = await new FakeApi({ stepMs: 150 }).start();
  });
  afterEach(() => api.stop());

  it('submit --watch draws a bar that advances and ends with the result, exit 0', async () => {
    const { code, output } = await inTerminal(
      ['submit', 'synthetic', '--payload', '{"durationMs":3000,"steps":10}', '--watch'],
      { SWITCHYARD_URL: api.url },
    );
    const plain = stripAnsi(output);
    expect(code).toBe(EXIT.ok);
    const percentages = new Set([...plain.matchAll(/(\d+)%/g)].map((m) => Number(m[1])));
    expect(percentages.size).toBeGreaterThanOrEqual(5);
    expect(percentages).toContain(100);
    expect(plain).toContain('█');
    expect(plain).toMatch(/elapsed/);
    expect(plain).toMatch(/~\d+\.\ds left/);
    expect(output).toContain('\u001b[32m'); // colour, since this is a terminal
    const lines = screenLines(output);
    expect(lines.at(-2)).toMatch(/^✔ completed [0-9a-f-]{36} in \d/);
    expect(lines.at(-1)).toBe('result: {"ok":true,"attempt":1}');
  }, 30_000);

  it('a failing job ends with its error code and a non-zero exit', async () => {
    const { code, output } = await inTerminal(
      ['submit', 'synthetic', '--payload', '{"steps":4,"fail":"permanent"}', '--watch'],
      { SWITCHYARD_URL: api.url },
    );
    expect(code).toBe(EXIT.jobFailed);
    expect(screenLines(output).at(-1)).toMatch(
      /^✖ failed [0-9a-f-]{36}.*: permanent_error: synthetic failure requested$/,
    );
  }, 30_000);

  it('Ctrl-C stops watching with exit 130 and leaves the job running', async () => {
    await api.stop();
    api = await new FakeApi({ stepMs: 1000 }).start();
    const job = api.addJob({ payload: { steps: 10 } });
    const child = spawn(process.execPath, [main, 'watch', job.id], {
      env: { PATH: process.env.PATH ?? '', HOME: emptyHome, SWITCHYARD_URL: api.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await new Promise<void>((started) =>
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('starting')) started();
      }),
    );
    child.kill('SIGINT');
    const [code] = (await once(child, 'close')) as [number | null];
    expect(code).toBe(EXIT.interrupted);
    expect(stderr).toBe(`stopped watching ${job.id}; the job keeps running (switchyard watch ${job.id})\n`);
    expect(api.requests.some((r) => r.method === 'DELETE')).toBe(false);
  }, 30_000);
});
