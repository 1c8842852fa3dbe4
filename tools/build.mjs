// Compiles every app and lib with SWC into dist/, mirroring the source tree. SWC keeps decorator
// metadata (NestJS DI needs it) and rewrites the @switchyard/* aliases to relative paths, so the
// output runs on plain Node without a runtime path resolver. Type checking is `npm run typecheck`.
import { transformFile } from '@swc/core';
import { chmod, mkdir, readFile, readdir, rm, writeFile, copyFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const out = join(root, 'dist');
const swcrc = JSON.parse(await readFile(join(root, '.swcrc'), 'utf8'));
const tsconfig = JSON.parse(await readFile(join(root, 'tsconfig.base.json'), 'utf8'));

async function* walk(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else yield path;
  }
}

// `x.testing.ts`: helpers of the specs beside it.
const isTest = (p) => /\.(spec|int\.spec|e2e|tools|testing)\.ts$/.test(p);
const options = {
  ...swcrc,
  swcrc: false,
  jsc: { ...swcrc.jsc, baseUrl: root, paths: tsconfig.compilerOptions.paths },
};

await rm(out, { recursive: true, force: true });
const started = Date.now();
let count = 0;
const jobs = [];
for (const top of ['apps', 'libs']) {
  for await (const file of walk(join(root, top))) {
    const rel = relative(root, file);
    // The web console is a browser app: Vite builds it below.
    if (!rel.includes('/src/') || rel.startsWith('apps/console/')) continue;
    if (file.endsWith('.ts') && !file.endsWith('.d.ts') && !isTest(file)) {
      jobs.push(
        (async () => {
          const { code, map } = await transformFile(file, {
            ...options,
            filename: file,
            sourceFileName: file,
          });
          const target = join(out, rel.replace(/\.ts$/, '.js'));
          await mkdir(dirname(target), { recursive: true });
          await writeFile(target, `${code}\n//# sourceMappingURL=${target.split('/').pop()}.map\n`);
          if (map) await writeFile(`${target}.map`, map);
          // Command entry points (the CLI) keep their shebang and must be executable.
          if (code.startsWith('#!')) await chmod(target, 0o755);
          count += 1;
        })(),
      );
    } else if (/\.(json|sql|yaml|wav)$/.test(file) && !isTest(file)) {
      const target = join(out, rel);
      await mkdir(dirname(target), { recursive: true });
      jobs.push(copyFile(file, target));
    }
  }
}
await Promise.all(jobs);
console.log(`build: ${count} files compiled to dist/ in ${Date.now() - started} ms`);

// The web console (apps/console): React + Vite into dist/apps/console, which the gateway serves at /ui.
const consoleStarted = Date.now();
const { build } = await import('vite');
await build({ configFile: join(root, 'apps/console/vite.config.mjs'), mode: 'production' });
console.log(`build: console bundled into dist/apps/console in ${Date.now() - consoleStarted} ms`);
