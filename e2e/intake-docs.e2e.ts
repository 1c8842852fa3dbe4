// docs/messaging.md's Node.js example, run as written against a running stack. Its amqp-tools
// example needs the Debian package and runs in `npm run test:tools` (intake-docs.tools.ts).
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '@switchyard/testing';
import { ROOT, startDocsExamples, type DocsExamples } from './support/docs-examples';

jest.setTimeout(120000);

describe('docs/messaging.md examples', () => {
  let examples: DocsExamples;

  beforeAll(async () => {
    examples = await startDocsExamples();
  });

  afterAll(async () => {
    await examples?.stack.destroy();
  });

  it('the Node.js example gets a reply and logs the job.completed event', async () => {
    const file = join(examples.dir, 'submit.mjs');
    writeFileSync(file, examples.block('js'));
    const child = spawn(process.execPath, [file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      await waitFor(() => /switchyard\.job\.completed \S+ completed order-1001/.test(output), {
        timeoutMs: 30000,
        what: `the example's job.completed line (output so far: ${output})`,
      });
    } finally {
      child.kill('SIGTERM');
    }
    expect(output).toContain('published order-1001');
    expect(output).toMatch(/reply order-1001 \{"jobId":"[0-9a-f-]{36}","status":"queued"\}/);
  });
});
