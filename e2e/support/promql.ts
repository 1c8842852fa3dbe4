// The PromQL the stack ships (alert rules, Grafana dashboard) and the metric names it reads.
// Shared by infrastructure.e2e.ts (names checked against infrastructure/metrics.txt) and
// metrics-scrape.e2e.ts (names checked against real scrapes of the running services).
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import { parse as parseYaml } from 'yaml';

const ROOT = resolve(__dirname, '..', '..');

const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const AGGREGATIONS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
]);
const KEYWORDS = new Set(['bool', 'and', 'or', 'unless', 'offset', 'atan2', 'inf', 'nan']);

/**
 * Metric names in a PromQL expression (Prometheus or Grafana flavoured): string literals, Grafana
 * variables, label matchers, range and subquery brackets go first; then identifiers followed by
 * `(` are functions or aggregations, the label lists after by/without/on/ignoring/group_* are
 * skipped, keywords and numbers (durations included) are dropped. What is left names a metric.
 */
export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/#[^\n]*/g, ' ')
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ');
  const tokens = stripped.match(/[A-Za-z_:][A-Za-z0-9_:]*|[0-9][A-Za-z0-9_.]*|\S/g) ?? [];
  const names: string[] = [];
  for (let i = 0; i < tokens.length; i += 1) {
    const token = tokens[i];
    if (!/^[A-Za-z_:]/.test(token)) continue;
    const lower = token.toLowerCase();
    const next = tokens[i + 1];
    if (GROUPING.has(lower)) {
      if (next === '(') {
        let depth = 0;
        for (i += 1; i < tokens.length; i += 1) {
          if (tokens[i] === '(') depth += 1;
          if (tokens[i] === ')') depth -= 1;
          if (depth === 0) break;
        }
      }
      continue;
    }
    if (next === '(') continue; // function or aggregation call
    if (AGGREGATIONS.has(lower) && (next === 'by' || next === 'without')) continue;
    if (KEYWORDS.has(lower)) continue;
    names.push(token);
  }
  return names;
}

export interface AlertRule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    ? String(value)
    : '';
}

const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/** Every rule of infrastructure/prometheus/alerts.yml. */
export function alertRules(): AlertRule[] {
  const file = join(ROOT, 'infrastructure', 'prometheus', 'alerts.yml');
  const doc = parseYaml(readFileSync(file, 'utf8')) as unknown;
  if (!isRecord(doc)) throw new Error('alerts.yml is not a mapping');
  return list(doc.groups).flatMap((group) =>
    list(isRecord(group) ? group.rules : undefined).map((rule) => {
      if (!isRecord(rule)) throw new Error('alerts.yml: a rule is not a mapping');
      return rule as unknown as AlertRule;
    }),
  );
}

export interface Panel {
  id?: number;
  type?: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  gridPos?: { h: number; w: number; x: number; y: number };
  targets?: { refId?: string; expr?: string; datasource?: { uid?: string } }[];
  panels?: Panel[];
}

export interface Dashboard {
  uid?: string;
  title?: string;
  schemaVersion?: number;
  panels?: Panel[];
  templating?: { list?: { type?: string; query?: unknown }[] };
}

export const DASHBOARD_FILE = join(ROOT, 'infrastructure', 'grafana', 'dashboards', 'switchyard.json');

/** The provisioned dashboard; throws when it is not valid JSON. */
export function dashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;
}

export function allPanels(panels: Panel[] | undefined): Panel[] {
  return (panels ?? []).flatMap((p) => [p, ...allPanels(p.panels)]);
}

/** Every PromQL expression of the dashboard: panel targets and query variables. */
export function dashboardExprs(d: Dashboard): string[] {
  const fromPanels = allPanels(d.panels).flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ''));
  const fromVariables = (d.templating?.list ?? [])
    .filter((v) => v.type === 'query')
    .map((v) => (isRecord(v.query) ? str(v.query.query) : str(v.query)))
    .map((q) => /^label_values\((.+),\s*\w+\s*\)$/.exec(q.trim())?.[1] ?? q)
    .filter((q) => !/^label_values\(\s*\w+\s*\)$/.test(q));
  return [...fromPanels, ...fromVariables].filter((e) => e.trim().length > 0);
}

/** infrastructure/<parts>: one metric name per line. */
export function metricList(...parts: string[]): string[] {
  return readFileSync(join(ROOT, 'infrastructure', ...parts), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
}

/**
 * Syntax errors in a PromQL expression, parsed with Prometheus's own grammar
 * (@prometheus-io/lezer-promql, the parser of the Prometheus web UI): the offsets of the error
 * nodes, empty when the expression parses. Grafana's interval variables become `5m` first.
 */
export function promqlSyntaxErrors(expr: string): number[] {
  const text = expr.replace(
    /\$__(rate_interval|interval|range)|\$\{__(rate_interval|interval|range)\}/g,
    '5m',
  );
  const errors: number[] = [];
  promqlParser.parse(text).iterate({
    enter: (node) => {
      if (node.type.isError) errors.push(node.from);
    },
  });
  return errors;
}
