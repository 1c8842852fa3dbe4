import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FlowJobView, FlowView, JobStatus } from '@switchyard/contracts';
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

/**
 * What a terminal shows at the end: the text replayed with the moves multi-line bars use (new line,
 * carriage return, cursor up, cursor to column 1, erase to the end of the line); other escapes are
 * dropped.
 */
function finalScreen(text: string): string[] {
  const rows: string[] = [''];
  let row = 0;
  let col = 0;
  const put = (chars: string) => {
    const line = rows[row] ?? '';
    rows[row] = line.slice(0, col).padEnd(col) + chars + line.slice(col + chars.length);
    col += chars.length;
  };
  for (const [, escape, arg, control, chars] of text.matchAll(
    new RegExp(`(${ESC}\\[(\\??[0-9;]*)[A-Za-z])|([\\r\\n])|([^${ESC}\\r\\n]+)`, 'gu'),
  )) {
    if (chars !== undefined) put(chars);
    else if (control === '\n') {
      row++;
      col = 0;
      rows[row] ??= '';
    } else if (control === '\r' || escape?.endsWith('G')) col = 0;
    else if (escape?.endsWith('A')) row = Math.max(0, row - Number(arg || 1));
    else if (escape === `${ESC}[0K` || escape === `${ESC}[K`) rows[row] = (rows[row] ?? '').slice(0, col);
  }
  return rows.filter((line) => line.trim() !== '');
}

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

  it('flow submit --watch draws one bar per job in dependency order and ends with the flow’s outcome, exit 0', async () => {
    const flows = await new FakeFlowApi().start();
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-flow-'));
    try {
      const file = join(dir, 'flow.json');
      writeFileSync(file, JSON.stringify({ name: 'pty', jobs: FLOW_JOBS }));
      const { code, output } = await inTerminal(['flow', 'submit', file, '--watch'], {
        SWITCHYARD_URL: flows.url,
      });
      expect(code).toBe(EXIT.ok);
      expect(output).toContain('\u001b[32m'); // colour, since this is a terminal
      // Each state of the script was drawn on its job's bar, including a step while running.
      const plain = stripAnsi(output);
      for (const state of ['first +█{12}░{12} 50% running', 'middle +█{10}░{14} 40% running · generating']) {
        expect(plain).toMatch(new RegExp(` ${state}`));
      }
      // The screen at the end: one full bar per job in the snapshot's (dependency) order, then the outcome.
      expect(finalScreen(output)).toEqual([
        `submitted flow ${flows.id} (3 jobs, pty)`,
        ` first            ${'█'.repeat(24)} 100% completed`,
        ` middle           ${'█'.repeat(24)} 100% completed`,
        ` last             ${'█'.repeat(24)} 100% completed`,
        `✔ flow ${flows.id} completed: completed 3`,
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await flows.stop();
    }
  }, 30_000);
});

const STEP_MS = 400;

const FLOW_JOBS = [
  { ref: 'last', type: 'synthetic', payload: {}, dependsOn: ['first', 'middle'] },
  { ref: 'middle', type: 'synthetic', payload: {}, dependsOn: ['first'] },
  { ref: 'first', type: 'synthetic', payload: {} },
];

/**
 * Just enough of the flow routes for `flow submit --watch`: the flow `first → middle → last`, whose
 * event stream plays a fixed script of job events, one every STEP_MS (four frames of the bars, which
 * redraw 10 times a second, so each state is drawn even on a busy machine), and ends with the flow.
 */
class FakeFlowApi {
  readonly id = randomUUID();
  private server: Server | undefined;
  private readonly jobs: FlowJobView[] = ['first', 'middle', 'last'].map((ref) => ({
    id: randomUUID(),
    ref,
    type: 'synthetic',
    queue: 'default',
    status: ref === 'first' ? 'queued' : 'waiting',
    step: null,
    progress: 0,
    attempts: 0,
    dependsOn: FLOW_JOBS.find((j) => j.ref === ref)?.dependsOn ?? [],
    onDependencyFailure: 'fail',
    spawnedBy: null,
    error: null,
    createdAt: new Date().toISOString(),
    startedAt: null,
    finishedAt: null,
  }));
  private readonly script: [ref: string, status: JobStatus, progress: number, step?: string][] = [
    ['first', 'running', 0],
    ['first', 'running', 50],
    ['first', 'completed', 100],
    ['middle', 'queued', 0],
    ['middle', 'running', 40, 'generating'],
    ['middle', 'completed', 100],
    ['last', 'queued', 0],
    ['last', 'running', 50],
    ['last', 'completed', 100],
  ];

  get url(): string {
    return `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}`;
  }

  view(): FlowView {
    const counts: Record<string, number> = {};
    for (const job of this.jobs) counts[job.status] = (counts[job.status] ?? 0) + 1;
    return {
      id: this.id,
      tenant: 'default',
      name: 'pty',
      metadata: {},
      status: counts['completed'] === this.jobs.length ? 'completed' : 'running',
      idempotencyKey: null,
      counts,
      total: this.jobs.length,
      createdAt: new Date().toISOString(),
      finishedAt: null,
      jobs: this.jobs,
      jobsTruncated: false,
    };
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const route = `${req.method} ${req.url}`;
      if (route === 'POST /api/v1/flows') {
        res.writeHead(202, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ ...this.view(), deduplicated: false }));
      }
      if (route === `GET /api/v1/flows/${this.id}`) {
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify(this.view()));
      }
      if (route !== `GET /api/v1/flows/${this.id}/events`) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`event: snapshot\ndata: ${JSON.stringify(this.view())}\n\n`);
      void this.play((event, data) =>
        res.write(`event: ${event}\ndata: ${JSON.stringify({ data })}\n\n`),
      ).then(() => res.end());
    });
    await new Promise<void>((ready) => this.server?.listen(0, '127.0.0.1', ready));
    return this;
  }

  private async play(emit: (event: string, data: Record<string, unknown>) => void): Promise<void> {
    for (const [ref, status, progress, step] of this.script) {
      await new Promise((tick) => setTimeout(tick, STEP_MS));
      const job = this.jobs.find((j) => j.ref === ref) as FlowJobView;
      Object.assign(job, { status, progress, step: step ?? null });
      const event = status === 'running' ? 'job.progress' : `job.${status}`;
      emit(event, { jobId: job.id, flowId: this.id, ref, status, progress, step: step ?? null });
    }
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((closed) => this.server?.close(() => closed()));
  }
}
