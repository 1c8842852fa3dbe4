// Lets Node require the bench's TypeScript (and libs/testing, which it reuses) straight from the
// source tree: a require hook that compiles each .ts file with SWC, with the same options as
// tools/build.mjs (.swcrc plus the @switchyard/* path aliases). The services run from dist/.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { transformSync } = require('@swc/core');

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const swcrc = JSON.parse(readFileSync(join(root, '.swcrc'), 'utf8'));
const tsconfig = JSON.parse(readFileSync(join(root, 'tsconfig.base.json'), 'utf8'));
const options = {
  ...swcrc,
  swcrc: false,
  sourceMaps: 'inline',
  jsc: { ...swcrc.jsc, baseUrl: root, paths: tsconfig.compilerOptions.paths },
};

require.extensions['.ts'] = function compileTypeScript(module, filename) {
  const { code } = transformSync(readFileSync(filename, 'utf8'), { ...options, filename });
  module._compile(code, filename);
};
process.setSourceMapsEnabled(true);

/** Loads a TypeScript module of the bench (CommonJS after compilation). */
export const requireTs = (path) => require(path);
