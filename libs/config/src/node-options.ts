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
