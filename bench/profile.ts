import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  service: string;
  pid: number;
  file: string;
  /** Sampled time with the process busy (idle excluded), ms. */
  busyMs: number;
  topFunctions: { function: string; selfMs: number; percent: number }[];
  byArea: { area: string; selfMs: number; percent: number }[];
}

const MAX_SAMPLE_GAP_US = 20000;

/** Where a function's code lives: the app or lib, the npm package, Node's internals, or V8. */
export function areaOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const own = /dist\/((?:apps|libs)\/[^/]+)/.exec(url);
  if (own) return own[1];
  if (url.startsWith('node:'))
    return `node:${url.slice(5).split('/')[0] === 'internal' ? url.slice(5).split('/').slice(0, 2).join('/') : url.slice(5)}`;
  return url;
}

/** Self time per function and per area of one .cpuprofile (Chrome DevTools format). */
export function summariseProfile(
  profile: CpuProfile,
  top = 15,
): Omit<ProfileSummary, 'service' | 'pid' | 'file'> {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    // timeDeltas[i] is the time before sample i; attribute the gap after a sample to it. A gap far
    // above the 1 ms interval is a stall of the sampler (a descheduled process on a busy machine),
    // not time spent in that function: such gaps are left out.
    const delta = profile.timeDeltas[i + 1] ?? 0;
    if (delta > MAX_SAMPLE_GAP_US) continue;
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, delta));
  }
  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of selfUs) {
    const frame = nodes.get(id)?.callFrame;
    if (!frame || frame.functionName === '(idle)') continue;
    busy += us;
    const file = frame.url.replace(/^file:\/\//, '').replace(/^.*?\/(dist|node_modules)\//, '$1/');
    const name = `${frame.functionName || '(anonymous)'}${file ? ` ${file}:${frame.lineNumber + 1}` : ''}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    const area = areaOf(frame.url, frame.functionName);
    byArea.set(area, (byArea.get(area) ?? 0) + us);
  }
  const ranked = (map: Map<string, number>, key: 'function' | 'area') =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({
        [key]: name,
        selfMs: Math.round(us / 1000),
        percent: Math.round((us / busy) * 1000) / 10,
      }));
  return {
    busyMs: Math.round(busy / 1000),
    topFunctions: ranked(byFunction, 'function') as ProfileSummary['topFunctions'],
    byArea: ranked(byArea, 'area') as ProfileSummary['byArea'],
  };
}

/** Summaries of every profile in `dir` whose pid is one of the services (labelled by name). */
export async function summariseProfiles(
  dir: string,
  services: Map<number, string>,
): Promise<ProfileSummary[]> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.cpuprofile'));
  const summaries: ProfileSummary[] = [];
  for (const file of files) {
    const pid = Number(file.split('.')[3]);
    const service = services.get(pid);
    if (!service) continue;
    const profile = JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile;
    summaries.push({ service, pid, file, ...summariseProfile(profile) });
  }
  return summaries.sort((a, b) => a.service.localeCompare(b.service));
}

export function formatProfiles(summaries: ProfileSummary[]): string {
  const lines: string[] = [];
  for (const s of summaries) {
    lines.push(`\n${s.service} (pid ${s.pid}): ${s.busyMs} ms on CPU (sampled, idle excluded)`);
    lines.push('  by area:');
    for (const a of s.byArea.slice(0, 10)) lines.push(`    ${String(a.percent).padStart(5)} %  ${a.area}`);
    lines.push('  top self-time functions:');
    for (const f of s.topFunctions) lines.push(`    ${String(f.percent).padStart(5)} %  ${f.function}`);
  }
  return lines.join('\n');
}
