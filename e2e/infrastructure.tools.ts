// The same deployable files as infrastructure.e2e.ts, checked by the upstream tools themselves:
// promtool (Debian/Ubuntu package `prometheus`) and a compose CLI (`docker compose` or the Debian
// package `docker-compose`). Run by `npm run test:tools` (and .ci/run), not by `npm test`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { dashboard, dashboardExprs } from './support/promql';

jest.setTimeout(60_000);

const ROOT = resolve(__dirname, '..');

function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): { status: number | null; output: string } {
  const result = spawnSync(cmd, args, { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 });
  if (result.error) throw new Error(`${cmd} could not run: ${result.error.message}`);
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

function commandExists(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

function promtool(...args: string[]) {
  if (!commandExists('promtool')) {
    throw new Error(
      'promtool not found: install Debian/Ubuntu package `prometheus` (apt-get install -y prometheus)',
    );
  }
  return run('promtool', args);
}

describe('promtool', () => {
  it('check config accepts prometheus.yml and the rule files it names', () => {
    const { status, output } = promtool('check', 'config', 'infrastructure/prometheus/prometheus.yml');
    expect(output).toContain('SUCCESS');
    expect(status).toBe(0);
  });

  it('check rules accepts alerts.yml', () => {
    const { status, output } = promtool('check', 'rules', 'infrastructure/prometheus/alerts.yml');
    expect(output).toMatch(/SUCCESS: \d+ rules found/);
    expect(status).toBe(0);
  });

  it('test rules: each alert fires on a breach and stays quiet below it', () => {
    const { status, output } = promtool('test', 'rules', 'infrastructure/prometheus/alerts.test.yml');
    expect(output).toContain('SUCCESS');
    expect(status).toBe(0);
  });

  it('every dashboard expression parses (as recording rules)', () => {
    const exprs = dashboardExprs(dashboard()).map((e) =>
      e.replace(/\$__(rate_interval|interval|range)|\$\{__(rate_interval|interval|range)\}/g, '5m'),
    );
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-dashboard-'));
    try {
      const rules = exprs.map((expr, i) => ({ record: `dashboard:expr_${i}`, expr }));
      writeFileSync(join(dir, 'rules.yml'), JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
      const { status, output } = promtool('check', 'rules', join(dir, 'rules.yml'));
      expect(output).toContain(`SUCCESS: ${exprs.length} rules found`);
      expect(status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function composeCli(): { cmd: string; args: string[] } {
  if (commandExists('docker') && spawnSync('docker', ['compose', 'version']).status === 0) {
    return { cmd: 'docker', args: ['compose'] };
  }
  if (commandExists('docker-compose')) return { cmd: 'docker-compose', args: [] };
  throw new Error('no compose CLI: install `docker compose` or the Debian/Ubuntu package docker-compose');
}

describe('compose CLI', () => {
  // An empty --env-file keeps a developer's own .env out of it; the environment is set explicitly.
  const base = () => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.ADMIN_API_KEY;
    return env;
  };
  const config = (cli: { cmd: string; args: string[] }, env: NodeJS.ProcessEnv) => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-compose-'));
    try {
      writeFileSync(join(dir, 'empty.env'), '');
      return run(
        cli.cmd,
        [...cli.args, '--env-file', join(dir, 'empty.env'), '-f', 'docker-compose.yaml', 'config', '-q'],
        env,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('`config` accepts docker-compose.yaml once ADMIN_API_KEY is set', () => {
    const cli = composeCli();
    const { status, output } = config(cli, { ...base(), ADMIN_API_KEY: 'a-real-admin-key-0123456789' });
    expect([status, output]).toEqual([0, expect.any(String)]);
  });

  it('`config` stops without ADMIN_API_KEY, saying how to set it', () => {
    const cli = composeCli();
    const { status, output } = config(cli, base());
    expect(status).not.toBe(0);
    expect(output).toMatch(/ADMIN_API_KEY/);
    expect(output).toMatch(/\.env/);
  });
});
