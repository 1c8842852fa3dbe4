import type { Command } from 'commander';
import type { App, CommandContext } from './cli.context';
import { EXIT, type ExitCode } from './cli.errors';
import { integerOption } from './cli.options';
import {
  endpointOf,
  probeReady,
  probeTcp,
  redactUrl,
  type DependencyCheck,
  type ReadyResult,
} from './doctor.probes';
import type { Settings } from './settings';

type DependencyName = keyof Settings['dependencies'];
type ServiceName = keyof Settings['services'];

export interface Finding {
  section: 'dependencies' | 'services' | 'api';
  name: string;
  target: string;
  ok: boolean;
  detail: string;
  /** What to do about it; findings with the same fix key share one entry in the fix list. */
  fix: string[];
  fixKey?: string;
}

interface DependencyInfo {
  label: string;
  envVar: string;
  defaultPort: number;
  /** Names services use for it in their readiness checks. */
  aliases: readonly string[];
  localFix: (port: number) => string[];
}

const DEPENDENCIES: Record<DependencyName, DependencyInfo> = {
  postgres: {
    label: 'PostgreSQL',
    envVar: 'DATABASE_URL',
    defaultPort: 5432,
    aliases: ['postgres', 'postgresql', 'database', 'db'],
    localFix: () => [
      'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
      'or: docker compose up -d postgres',
    ],
  },
  rabbitmq: {
    label: 'RabbitMQ',
    envVar: 'AMQP_URL',
    defaultPort: 5672,
    aliases: ['rabbitmq', 'amqp', 'broker'],
    localFix: () => ['rabbitmq-server -detached', 'or: docker compose up -d rabbitmq'],
  },
  redis: {
    label: 'Redis',
    envVar: 'REDIS_URL',
    defaultPort: 6379,
    aliases: ['redis'],
    localFix: (port) => [
      `redis-server --daemonize yes --bind 127.0.0.1 -::1 --port ${port} --save "" --appendonly no`,
      'or: docker compose up -d redis',
    ],
  },
};

const SERVICES: readonly ServiceName[] = ['gateway', 'worker', 'progress-tracker', 'metrics'];
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '0.0.0.0']);

interface DoctorFlags {
  timeout?: number;
}

export function registerDoctorCommand(program: Command, app: App): void {
  program
    .command('doctor')
    .description('check every service and dependency, and say what to fix')
    .option('--worker-url <url>', 'worker health endpoint origin (default: gateway host, port 3001)')
    .option('--tracker-url <url>', 'progress-tracker origin (default: gateway host, port 3002)')
    .option('--metrics-url <url>', 'metrics service origin (default: gateway host, port 3003)')
    .option('--database-url <url>', 'PostgreSQL to probe (default: DATABASE_URL or 127.0.0.1:5432)')
    .option('--amqp-url <url>', 'RabbitMQ to probe (default: AMQP_URL or 127.0.0.1:5672)')
    .option('--redis-url <url>', 'Redis to probe (default: REDIS_URL or 127.0.0.1:6379)')
    .option('--timeout <ms>', 'per check', integerOption(1), 3000)
    .action(async (flags: DoctorFlags, cmd: Command) =>
      app.exit(await doctor(app.context(cmd), flags.timeout ?? 3000)),
    );
}

export async function doctor(ctx: CommandContext, timeoutMs: number): Promise<ExitCode> {
  const { settings } = ctx;
  const dependencyNames = Object.keys(DEPENDENCIES) as DependencyName[];
  const [dependencies, services, api] = await Promise.all([
    Promise.all(dependencyNames.map((name) => checkDependency(name, settings.dependencies[name], timeoutMs))),
    Promise.all(
      SERVICES.map(async (name) => [name, await probeReady(settings.services[name], timeoutMs)] as const),
    ),
    checkApiKey(ctx, timeoutMs),
  ]);
  const down = new Set(dependencies.filter((f) => !f.ok).map((f) => f.name));
  const findings = [
    ...dependencies,
    ...serviceFindings(services, settings, down),
    ...(api === undefined ? [] : [api]),
  ];
  print(ctx, findings);
  return findings.every((f) => f.ok) ? EXIT.ok : EXIT.error;
}

async function checkDependency(name: DependencyName, url: string, timeoutMs: number): Promise<Finding> {
  const info = DEPENDENCIES[name];
  const defaultPort = url.startsWith('amqps:') ? 5671 : info.defaultPort;
  const endpoint = endpointOf(url, defaultPort);
  if (endpoint === undefined) {
    return {
      section: 'dependencies',
      name: info.label,
      target: redactUrl(url),
      ok: false,
      detail: `${info.envVar} is not a URL`,
      fix: [`set ${info.envVar} to a URL like ${redactUrl(url)}`],
    };
  }
  const target = `${endpoint.host}:${endpoint.port}`;
  const result = await probeTcp(endpoint.host, endpoint.port, timeoutMs);
  if (result.ok) {
    return {
      section: 'dependencies',
      name: info.label,
      target,
      ok: true,
      detail: `reachable (${result.ms} ms)`,
      fix: [],
    };
  }
  const fix = LOCAL_HOSTS.has(endpoint.host)
    ? [
        `${info.label} is not running on ${target} (${info.envVar}). Start it:`,
        ...info.localFix(endpoint.port).map(indent),
      ]
    : [
        `${info.label} at ${target} (${info.envVar}) does not answer: check that it runs and that this machine can reach it,`,
        `or point ${info.envVar} at one that does`,
      ];
  return {
    section: 'dependencies',
    name: info.label,
    target,
    ok: false,
    detail: `unreachable: ${result.error}`,
    fix,
    fixKey: `dependency:${name}`,
  };
}

function serviceFindings(
  results: readonly (readonly [ServiceName, ReadyResult])[],
  settings: Settings,
  dependenciesDown: ReadonlySet<string>,
): Finding[] {
  const allUnreachable = results.every(([, r]) => r.kind === 'unreachable');
  return results.map(([name, result]): Finding => {
    const target = settings.services[name];
    const base = { section: 'services' as const, name, target };
    switch (result.kind) {
      case 'ready':
        return { ...base, ok: true, detail: 'ready', fix: [] };
      case 'unreachable':
        // With nothing running, one `npm start` is the fix, not four.
        return allUnreachable
          ? {
              ...base,
              ok: false,
              detail: `not running: ${result.error}`,
              fix: ['no Switchyard service is running: start all four with', indent('npm start')],
              fixKey: 'services:all',
            }
          : {
              ...base,
              ok: false,
              detail: `not running: ${result.error}`,
              fix: [`${name} is not running at ${target}: start it with`, indent(`npm run start:${name}`)],
              fixKey: `service:${name}`,
            };
      case 'not_ready': {
        const failing = Object.entries(result.checks).filter(([, c]) => c.status === 'down');
        const detail =
          failing.length === 0
            ? `not ready (HTTP ${result.httpStatus})`
            : `not ready: ${failing.map(([check, c]) => describeCheck(check, c)).join('; ')}`;
        return { ...base, ok: false, detail, ...notReadyFix(name, failing, dependenciesDown) };
      }
    }
  });
}

/** A dependency that is down gets its fix from its own finding; here only what is left. */
function notReadyFix(
  service: ServiceName,
  failing: readonly (readonly [string, DependencyCheck])[],
  dependenciesDown: ReadonlySet<string>,
): Pick<Finding, 'fix' | 'fixKey'> {
  const unexplained = failing.filter(([check]) => {
    const dependency = dependencyOfCheck(check);
    return dependency === undefined || !dependenciesDown.has(DEPENDENCIES[dependency].label);
  });
  if (failing.length > 0 && unexplained.length === 0) {
    const key = dependencyOfCheck(failing[0][0]);
    return { fix: [], fixKey: key === undefined ? undefined : `dependency:${key}` };
  }
  const names = unexplained.map(([check]) => {
    const dependency = dependencyOfCheck(check);
    return dependency === undefined
      ? check
      : `${DEPENDENCIES[dependency].label} (${DEPENDENCIES[dependency].envVar})`;
  });
  const fix =
    names.length === 0
      ? [`${service} reports it is not ready: read its log for the reason`]
      : [
          `${service} cannot use ${names.join(', ')} although the port answers:`,
          indent(`check the URL, credentials and database in ${service}'s environment, and its log`),
        ];
  return { fix, fixKey: `service-ready:${service}` };
}

function dependencyOfCheck(check: string): DependencyName | undefined {
  const lower = check.toLowerCase();
  return (Object.keys(DEPENDENCIES) as DependencyName[]).find((name) =>
    DEPENDENCIES[name].aliases.includes(lower),
  );
}

function describeCheck(check: string, c: DependencyCheck): string {
  const dependency = dependencyOfCheck(check);
  const label = dependency === undefined ? check : DEPENDENCIES[dependency].label;
  return `${label} down${c.error === undefined ? '' : ` (${c.error})`}`;
}

/** Whether the configured key works: the commonest reason every other command fails. */
async function checkApiKey(ctx: CommandContext, timeoutMs: number): Promise<Finding | undefined> {
  const { settings } = ctx;
  const base = { section: 'api' as const, name: 'API key', target: `${settings.url}/api/v1` };
  let response: Response;
  try {
    const headers: Record<string, string> =
      settings.apiKey === undefined ? {} : { authorization: `Bearer ${settings.apiKey}` };
    response = await fetch(`${settings.url}/api/v1/jobs?limit=1`, {
      headers,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel();
  } catch {
    // The gateway finding already says it is not running.
    return undefined;
  }
  const setKey = [
    'set a valid key with --api-key, SWITCHYARD_API_KEY, or "apiKey" in the config file',
    indent(
      "(for local development: the gateway's ADMIN_API_KEY, or `switchyard keys create` with an admin key)",
    ),
  ];
  if (response.status === 401) {
    const detail = settings.apiKey === undefined ? 'no API key configured' : 'the API key was rejected';
    return { ...base, ok: false, detail, fix: setKey, fixKey: 'api-key' };
  }
  if (response.status === 403) {
    return {
      ...base,
      ok: false,
      detail: 'the key lacks the jobs:read scope',
      fix: setKey,
      fixKey: 'api-key',
    };
  }
  if (response.ok) return { ...base, ok: true, detail: 'accepted', fix: [] };
  // A gateway that is up but not ready answers 503; its own finding already says why.
  if (response.status >= 500) return undefined;
  return {
    ...base,
    ok: false,
    detail: `the gateway answered HTTP ${response.status}`,
    fix: ["read the gateway's log"],
  };
}

const SECTION_TITLES: Record<Finding['section'], string> = {
  dependencies: 'Dependencies',
  services: 'Services',
  api: 'API',
};

function print(ctx: CommandContext, findings: readonly Finding[]): void {
  const { out } = ctx;
  const problems = findings.filter((f) => !f.ok);
  if (out.json) {
    out.data({ ok: problems.length === 0, checks: findings });
    return;
  }
  const { style } = out;
  const nameWidth = Math.max(...findings.map((f) => f.name.length));
  for (const section of Object.keys(SECTION_TITLES) as Finding['section'][]) {
    const inSection = findings.filter((f) => f.section === section);
    if (inSection.length === 0) continue;
    out.line(style.bold(SECTION_TITLES[section]));
    for (const f of inSection) {
      const mark = f.ok ? style.green('✔') : style.red('✖');
      out.line(
        `  ${mark} ${f.name.padEnd(nameWidth)}  ${style.dim(f.target)}  ${f.ok ? f.detail : style.red(f.detail)}`,
      );
    }
  }
  out.line();
  if (problems.length === 0) {
    out.line(style.green('everything is up'));
    return;
  }
  const fixes = new Map<string, string[]>();
  for (const f of problems) {
    if (f.fix.length > 0 && !fixes.has(f.fixKey ?? f.name)) fixes.set(f.fixKey ?? f.name, f.fix);
  }
  out.line(`${style.red(`${problems.length} problem${problems.length === 1 ? '' : 's'}`)}. To fix:`);
  [...fixes.values()].forEach((fix, i) => {
    const [first, ...rest] = fix;
    out.line(`  ${i + 1}. ${first}`);
    for (const line of rest) out.line(`     ${line}`);
  });
}

function indent(line: string): string {
  return `  ${line}`;
}
