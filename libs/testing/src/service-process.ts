import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { waitFor } from './isolation';

export type ServiceName = 'gateway' | 'worker' | 'progress-tracker' | 'metrics';

const PORT_VARIABLE: Record<ServiceName, string> = {
  gateway: 'GATEWAY_PORT',
  worker: 'WORKER_PORT',
  'progress-tracker': 'TRACKER_PORT',
  metrics: 'METRICS_PORT',
};

const ROOT = join(__dirname, '..', '..', '..');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** One built service (`dist/apps/<name>`) running as a real child process, its JSON logs kept. */
export class ServiceProcess {
  readonly lines: string[] = [];
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> | undefined;

  constructor(
    readonly name: ServiceName,
    readonly port: number,
    private readonly env: Record<string, string>,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the process; resolves once `/health/ready` answers 200. */
  async start(readyTimeoutMs = 30000): Promise<void> {
    const child = spawn(process.execPath, [join(ROOT, 'dist', 'apps', this.name, 'src', 'main.js')], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', ...this.env, [PORT_VARIABLE[this.name]]: String(this.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    const collect = (chunk: Buffer) => this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    let exitedEarly = false;
    void this.exited.then(() => (exitedEarly = true));
    await waitFor(
      async () => {
        if (exitedEarly) throw new Error(`${this.name} exited: ${this.lines.slice(-5).join('\n')}`);
        const response = await fetch(`${this.url}/health/ready`);
        return response.status === 200;
      },
      { timeoutMs: readyTimeoutMs, intervalMs: 100, what: `${this.name} to be ready` },
    );
  }

  /** Sends a signal and waits for the exit code (SIGKILL for crash tests). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) {
      return this.child?.exitCode ?? null;
    }
    this.child.kill(signal);
    return this.exited ?? null;
  }

  /** Parsed JSON log lines (non-JSON lines are skipped). */
  logs(): Record<string, unknown>[] {
    return this.lines.flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }
}

/**
 * Applies the migrations to the database at `url` with the built `npm run migrate` entry, as an
 * operator does before starting the services.
 */
export async function migrateWithBuiltEntry(url: string): Promise<void> {
  const { code, output } = await runToExit(
    'migrate',
    join(ROOT, 'dist', 'libs', 'persistence', 'src', 'migrate.js'),
    { DATABASE_URL: url, LOG_LEVEL: 'warn' },
    60000,
  );
  if (code !== 0) throw new Error(`migrate exited with code ${String(code)}: ${output}`);
}

/** Runs a built service with `env` until it exits; for start-up failure tests. */
export function runServiceToExit(
  name: ServiceName,
  env: Record<string, string>,
  timeoutMs = 20000,
): Promise<{ code: number | null; output: string }> {
  return runToExit(name, join(ROOT, 'dist', 'apps', name, 'src', 'main.js'), env, timeoutMs);
}

function runToExit(
  name: string,
  script: string,
  env: Record<string, string>,
  timeoutMs: number,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not exit within ${timeoutMs} ms: ${output}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}
