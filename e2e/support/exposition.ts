// Reading what a service serves on /metrics (Prometheus text format 0.0.4), for e2e tests.
import { spawnSync } from 'node:child_process';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  text: string;
  /** Family name → its TYPE (counter, gauge, histogram, summary, untyped). */
  families: Map<string, string>;
  samples: Sample[];
}

export async function scrape(baseUrl: string): Promise<Exposition> {
  const response = await fetch(`${baseUrl}/metrics`);
  if (response.status !== 200) throw new Error(`GET ${baseUrl}/metrics answered ${response.status}`);
  return parseExposition(await response.text());
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseExposition(text: string): Exposition {
  const families = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      families.set(type[1], type[2]);
      continue;
    }
    if (!line.trim() || line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) {
      labels[key] = value.replace(/\\"/g, '"').replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
    }
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return { text, families, samples };
}

/** Every series name a query can select: each family, and a histogram's _bucket/_sum/_count. */
export function seriesNames(exposition: Exposition): Set<string> {
  const names = new Set<string>(exposition.samples.map((s) => s.name));
  for (const [family, type] of exposition.families) {
    names.add(family);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(family + suffix);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(family + suffix);
  }
  return names;
}

/** Sum of the samples of `name` whose labels include `labels`. */
export function total(exposition: Exposition, name: string, labels: Record<string, string> = {}): number {
  return exposition.samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** Sums of `name` grouped by the given label names, keyed `a=1,b=2`; zero-valued groups left out. */
export function totalsBy(exposition: Exposition, name: string, by: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of exposition.samples) {
    if (s.name !== name) continue;
    const key = by.map((label) => `${label}=${s.labels[label] ?? ''}`).join(',');
    out[key] = (out[key] ?? 0) + s.value;
  }
  for (const [key, value] of Object.entries(out)) if (value === 0) delete out[key];
  return out;
}

// As Go's strconv.ParseFloat reads them (promtool): NaN and Inf in any case.
const VALUE = /^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|[+-]?inf(?:inity)?|nan)$/i;
const NON_BASE_UNITS =
  /_(milliseconds|microseconds|nanoseconds|minutes|hours|days|weeks|kilobytes|megabytes|gigabytes|kibibytes|mebibytes|percent|celsius|fahrenheit)(_|$)/;

/**
 * The problems `promtool check metrics` reports, checked without promtool (which
 * metrics-scrape.tools.ts runs too): the text-format syntax (one TYPE and one HELP per family,
 * before its samples; valid names, label pairs and values; no duplicate series) and promlint's
 * rules (counters end in `_total` and nothing else does; base units; histograms with `le` buckets
 * up to `+Inf`, `_sum` and `_count`). An empty list means it passes.
 */
export function lintExposition(text: string): string[] {
  const problems: string[] = [];
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const seen = new Set<string>();
  const sampled = new Set<string>();
  const infBuckets = new Set<string>();
  const familyOf = (name: string): string => {
    for (const suffix of ['_bucket', '_sum', '_count']) {
      const base = name.endsWith(suffix) ? name.slice(0, -suffix.length) : undefined;
      if (base && ['histogram', 'summary'].includes(types.get(base) ?? '')) return base;
    }
    return name;
  };
  if (text.length > 0 && !text.endsWith('\n')) problems.push('the exposition does not end with a newline');
  for (const line of text.split('\n')) {
    if (!line) continue;
    const meta = /^# (TYPE|HELP) (\S+)(?: (.*))?$/.exec(line);
    if (meta) {
      const [, kind, name, rest = ''] = meta;
      if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) problems.push(`${name}: invalid metric name`);
      if (sampled.has(name)) problems.push(`${name}: ${kind} after its samples`);
      if (kind === 'TYPE') {
        if (types.has(name)) problems.push(`${name}: second TYPE line`);
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) {
          problems.push(`${name}: unknown type ${rest}`);
        }
        types.set(name, rest);
      } else {
        if (helps.has(name)) problems.push(`${name}: second HELP line`);
        if (!rest.trim()) problems.push(`${name}: empty HELP`);
        helps.add(name);
      }
      continue;
    }
    if (line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (!match) {
      problems.push(`unparsable line: ${line}`);
      continue;
    }
    const [, name, labelText = '', value] = match;
    const labelPairs = labelText.replace(/,\s*$/, '');
    const rebuilt = [...labelPairs.matchAll(LABEL)].map((m) => m[0]).join(',');
    if (rebuilt.replace(/\s/g, '') !== labelPairs.replace(/,\s*/g, ',').replace(/\s/g, '')) {
      problems.push(`${name}: malformed labels {${labelText}}`);
    }
    if (!VALUE.test(value)) problems.push(`${name}: invalid value ${value}`);
    const key = `${name}{${[...labelPairs.matchAll(LABEL)]
      .map((m) => m[0])
      .sort()
      .join(',')}}`;
    if (seen.has(key)) problems.push(`duplicate series ${key}`);
    seen.add(key);
    const family = familyOf(name);
    sampled.add(family);
    if (types.get(family) === 'histogram' && name === `${family}_bucket`) {
      if (!/(^|,)\s*le="/.test(labelPairs)) problems.push(`${name}: bucket without le`);
      if (/(^|,)\s*le="\+Inf"/.test(labelPairs)) infBuckets.add(family);
    }
  }
  for (const [name, type] of types) {
    if (!helps.has(name)) problems.push(`${name}: no HELP`);
    if (type === 'counter' && !name.endsWith('_total'))
      problems.push(`${name}: counter without _total suffix`);
    if (type !== 'counter' && name.endsWith('_total'))
      problems.push(`${name}: non-counter with _total suffix`);
    if (NON_BASE_UNITS.test(name)) problems.push(`${name}: not in base units`);
    if (type === 'histogram' && sampled.has(name)) {
      if (!infBuckets.has(name)) problems.push(`${name}: no le="+Inf" bucket`);
      for (const suffix of ['_sum', '_count']) {
        if (![...seen].some((k) => k.startsWith(`${name}${suffix}{`))) problems.push(`${name}: no ${suffix}`);
      }
    }
  }
  return problems;
}

/** `promtool check metrics` with the exposition on stdin (Debian package `prometheus`). */
export function promtoolCheckMetrics(text: string): { status: number | null; output: string } {
  const result = spawnSync('promtool', ['check', 'metrics'], {
    input: text,
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (result.error) {
    throw new Error(`promtool could not run (apt-get install prometheus): ${result.error.message}`);
  }
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}
