// `npm run bench:cluster`: builds the services, then measures worker scaling on a three-node
// RabbitMQ cluster beside the single-node figure (bench/cluster-scaling.ts). Options after `--`.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const build = spawnSync(process.execPath, [join(root, 'tools', 'build.mjs')], {
  cwd: root,
  stdio: ['ignore', 'inherit', 'inherit'],
});
if (build.status !== 0) process.exit(build.status ?? 1);

const { requireTs } = await import('./ts-hook.mjs');
const { main } = requireTs('./cluster-scaling.ts');
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
}
setTimeout(() => process.exit(), 200).unref();
