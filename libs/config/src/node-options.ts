import { setFlagsFromString } from 'node:v8';

/**
 * The production `NODE_OPTIONS` of each service: the one place they are written down.
 * docker-compose.yaml sets them per service, infrastructure/Dockerfile's default CMD picks them by
 * SERVICE, and the bench (bench/harness.ts) starts each service with them, so that what is
 * measured is what production runs; e2e/infrastructure.e2e.ts checks that the three agree.
 *
 * Why per service (docs/operations.md, "Tuning"; docs/performance.md has the measurements):
 * - Without `--max-old-space-size` V8 sizes its old generation from the host's RAM and collects
 *   late, so RSS follows the allocation rate rather than the live data.
 * - The gateway allocates fast and briefly (request bodies, rows, answers): a larger young
 *   generation (`--max-semi-space-size`, MB per semi-space; V8's default is 16) means fewer
 *   scavenges and fewer short-lived objects promoted into the old generation, whose collections
 *   are the long pauses a submission can wait behind.
 * - The worker's cap is high: the limit also applies to its analysis threads (worker_threads
 *   inherit it), which allocate whole WAV buffers, and a cap of 256 MB cut audio.analyze by about
 *   a fifth. 1,024 MB only bounds a runaway handler.
 */
export type NodeService = 'gateway' | 'worker' | 'progress-tracker' | 'metrics';

/** In every service's NODE_OPTIONS: stack traces point into the TypeScript sources. */
export const COMMON_NODE_OPTIONS = '--enable-source-maps';

/** The heap settings of each service, after COMMON_NODE_OPTIONS. */
export const SERVICE_HEAP_OPTIONS: Readonly<Record<NodeService, string>> = {
  gateway: '--max-old-space-size=256 --max-semi-space-size=32',
  worker: '--max-old-space-size=1024',
  'progress-tracker': '--max-old-space-size=256',
  metrics: '--max-old-space-size=256',
};

/** The full production NODE_OPTIONS of a service. */
export function productionNodeOptions(service: NodeService): string {
  return [COMMON_NODE_OPTIONS, SERVICE_HEAP_OPTIONS[service]].filter(Boolean).join(' ');
}

/**
 * V8 flags a service sets on itself at start (applyServiceV8Flags), for what NODE_OPTIONS may not
 * carry: Node refuses most V8 flags there, and the command line differs between the image, compose,
 * `npm start`, the bench and the tests, while every one of them runs the service's start-up (the
 * gateway's main, bootService for the others).
 *
 * The gateway's `--heap-growing-percent=100`: after each full collection V8 lets the old generation
 * grow to twice the live heap before the next one (at a 256 MB cap it picks 1.3 ×). The gateway's
 * live heap is ~65 MB (module sources, source maps and compiled code, not jobs) and it promotes a
 * few MB per scavenge, so at 1.3 × a mark-compact came every 3–4 s at 300 submissions a second, and
 * the requests queued behind those pauses made many of the slowest 1 %; at 2 × they come about a
 * third as often (docs/performance.md, "Fewer full collections in the gateway").
 */
export const SERVICE_V8_FLAGS: Readonly<Record<NodeService, readonly string[]>> = {
  gateway: ['--heap-growing-percent=100'],
  worker: [],
  'progress-tracker': [],
  metrics: [],
};

/**
 * Sets the service's SERVICE_V8_FLAGS in this process, except a flag that the node command line
 * already gives (an operator's own value wins). These flags are read by V8 at each collection, so
 * setting them at start is the same as giving them on the command line. Returns the flags set.
 */
export function applyServiceV8Flags(
  service: NodeService,
  execArgv: readonly string[] = process.execArgv,
  set: (flag: string) => void = setFlagsFromString,
): string[] {
  const given = new Set(execArgv.map((arg) => arg.split('=')[0].replace(/_/g, '-')));
  const flags = SERVICE_V8_FLAGS[service].filter((flag) => !given.has(flag.split('=')[0]));
  for (const flag of flags) set(flag);
  return flags;
}
