// Builds and packs @switchyard/client: `node tools/pack-client.mjs [destination]` compiles
// libs/client with tsc (ES modules + declarations, DOM library, no Node types) into
// dist/client-package, adds the `.js` extensions ES modules need to relative imports, copies the
// generated OpenAPI types, package.json and README, and runs `npm pack` there. Prints the tarball path.
import { execFileSync } from 'node:child_process';
import { copyFile, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const lib = join(root, 'libs', 'client');
const out = join(root, 'dist', 'client-package');
const destination = resolve(process.argv[2] ?? out);

await rm(out, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(lib, 'tsconfig.lib.json')],
  {
    stdio: 'inherit',
  },
);
for (const file of await readdir(out)) {
  if (!/\.(js|d\.ts)$/.test(file)) continue;
  const path = join(out, file);
  const text = await readFile(path, 'utf8');
  await writeFile(
    path,
    text.replace(
      /(from\s+|import\()(['"])(\.\/[^'"]+?)\2/g,
      (_m, lead, q, spec) => `${lead}${q}${spec}.js${q}`,
    ),
  );
}
await copyFile(join(lib, 'src', 'openapi.d.ts'), join(out, 'openapi.d.ts'));
await copyFile(join(lib, 'package.json'), join(out, 'package.json'));
await copyFile(join(lib, 'README.md'), join(out, 'README.md'));
const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', destination], {
  cwd: out,
  encoding: 'utf8',
})
  .trim()
  .split('\n')
  .pop();
console.log(join(destination, tarball));
