import { execFile } from 'node:child_process';
import { join } from 'node:path';

/**
 * openapi-typescript's Node API (`openapiTS` + `astToString`) on an OpenAPI document: the
 * TypeScript types it generates. It runs in a child Node process (from the repository root, where
 * the package is installed): the package loads ES modules that Jest's CommonJS runtime cannot require.
 */
export function generateTypes(document: unknown): Promise<string> {
  const script = [
    "import openapiTS, { astToString } from 'openapi-typescript';",
    'let input = "";',
    'for await (const chunk of process.stdin) input += chunk;',
    'process.stdout.write(astToString(await openapiTS(JSON.parse(input))));',
  ].join('\n');
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      ['--input-type=module', '-e', script],
      { maxBuffer: 16 * 1024 * 1024, cwd: join(__dirname, '..', '..') },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)),
    );
    child.stdin?.end(JSON.stringify(document));
  });
}
