// `npm start` stops what it started: SIGTERM to the npm process (as a supervisor or `kill` sends
// it) stops tools/start.mjs and the four services, and so does the npm process dying without a
// signal (SIGKILL), which the launcher notices by its parent going away.
//
// The npm script is run as package.json writes it, except that its build step (which would
// rewrite dist/ under the other suites) is replaced by `true`: a scratch package.json carries it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, TestStack, waitFor } from '@switchyard/testing';

jest.setTimeout(120_000);

const ROOT = resolve(__dirname, '..');
const BUILD = 'npm run build --silent';
const PORTS = ['GATEWAY_PORT', 'WORKER_PORT', 'TRACKER_PORT', 'METRICS_PORT'] as const;

/** Parent pid and state of a live process from /proc, or undefined once it is gone (or a zombie). */
function procStat(pid: number): { ppid: number; state: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (in parentheses) may hold spaces: the fields after its closing one.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return state === 'Z' || state === 'X' ? undefined : { ppid: Number(ppid), state };
  } catch {
    return undefined;
  }
}

/** Every live descendant of `root`. */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = procStat(pid);
    if (stat) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), pid]);
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length) {
    for (const child of children.get(queue.shift() ?? -1) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '';
  }
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, '0.0.0.0', () => server.close(() => done(true)));
  });
}

describe('npm start', () => {
  let stack: TestStack;
  let scratch: string;
  const started: ChildProcess[] = [];
  /** Every process seen under an npm start, killed at the end if a failed test left it running. */
  const seen = new Set<number>();

  beforeAll(async () => {
    // Only its isolation (database, AMQP and Redis prefixes, directories): npm start runs the services.
    stack = await TestStack.create();
    const script = (
      JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }
    ).scripts.start;
    expect(script.startsWith(`${BUILD} && `)).toBe(true);
    scratch = mkdtempSync(join(tmpdir(), 'switchyard-start-'));
    const start = `cd '${ROOT}' && true${script.slice(BUILD.length)}`;
    writeFileSync(
      join(scratch, 'package.json'),
      JSON.stringify({ name: 'start-test', private: true, scripts: { start } }),
    );
  });

  afterAll(async () => {
    for (const child of started)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(scratch, { recursive: true, force: true });
    await stack?.destroy();
  });

  /** `npm start` on free ports; resolves once all four services answer ready, with every pid under npm. */
  async function npmStart(): Promise<{ npm: ChildProcess; pids: number[]; ports: number[] }> {
    const ports = await Promise.all(PORTS.map(() => freePort()));
    const output: string[] = [];
    const npm = spawn('npm', ['start', '--silent'], {
      cwd: scratch,
      env: {
        ...process.env,
        ...stack.env,
        FORCE_COLOR: '0',
        ...Object.fromEntries(PORTS.map((name, i) => [name, String(ports[i])])),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    started.push(npm);
    npm.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    npm.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    await waitFor(
      async () => {
        if (npm.exitCode !== null)
          throw new Error(`npm start exited ${npm.exitCode}: ${output.join('').slice(-2000)}`);
        const answers = await Promise.all(
          ports.map((port) =>
            fetch(`http://127.0.0.1:${port}/health/ready`).then(
              (r) => r.status,
              () => 0,
            ),
          ),
        );
        return answers.every((status) => status === 200);
      },
      { timeoutMs: 60_000, intervalMs: 200, what: 'the four services of npm start to be ready' },
    );
    const pids = descendants(npm.pid ?? -1);
    for (const pid of pids) seen.add(pid);
    const commands = pids.map(commandLine);
    // The launcher and the four services (each maybe under a shell of concurrently's).
    expect(commands.filter((c) => c.includes('tools/start.mjs'))).toHaveLength(1);
    for (const app of ['gateway', 'worker', 'progress-tracker', 'metrics']) {
      expect([app, commands.some((c) => c.includes(`dist/apps/${app}/src/main.js`))]).toEqual([app, true]);
    }
    return { npm, pids, ports };
  }

  async function expectAllGone(pids: number[], ports: number[]): Promise<void> {
    await waitFor(
      async () => {
        const alive = pids.filter((pid) => procStat(pid) !== undefined);
        if (alive.length) return false;
        return (await Promise.all(ports.map(portFree))).every(Boolean);
      },
      {
        timeoutMs: 30_000,
        intervalMs: 100,
        what: 'every process of npm start to exit and its ports to be free',
      },
    ).catch((error: Error) => {
      const alive = pids
        .filter((pid) => procStat(pid) !== undefined)
        .map((pid) => `${pid} ${commandLine(pid)}`);
      throw new Error(`${error.message}; still running: ${alive.join('; ') || 'none'}`);
    });
  }

  it('SIGTERM to the npm process stops the launcher and all four services, freeing their ports', async () => {
    const { npm, pids, ports } = await npmStart();
    expect(pids.length).toBeGreaterThanOrEqual(5);
    npm.kill('SIGTERM');
    await expectAllGone(pids, ports);
  });

  it('when the npm process is SIGKILLed, the launcher notices and stops the services', async () => {
    const { npm, pids, ports } = await npmStart();
    npm.kill('SIGKILL');
    await expectAllGone(pids, ports);
  });
});
