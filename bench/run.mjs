// `npm run bench`: builds the services (production build in dist/, as `npm run build`), then runs
// the bench's TypeScript through bench/ts-hook.mjs. Options after `--`; `npm run bench -- --help`.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const skipBuild = args.includes('--no-build');

if (!skipBuild && !args.includes('--help')) {
  const build = spawnSync(process.execPath, [join(root, 'tools', 'build.mjs')], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

const { requireTs } = await import('./ts-hook.mjs');
const { main } = requireTs('./main.ts');
try {
  process.exitCode = await main(args.filter((a) => a !== '--no-build'));
} catch (error) {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
}
// Keep-alive sockets or a stray timer must not keep the process alive once the report is written.
setTimeout(() => process.exit(), 200).unref();
