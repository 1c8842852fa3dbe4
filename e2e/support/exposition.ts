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
