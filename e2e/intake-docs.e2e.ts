// The examples of docs/messaging.md, run as written (amqp-tools shell commands and the Node.js
// snippet) against a running stack, so that the documentation's "working example" stays working.
// Only the names change: the stack's own AMQP prefix instead of `switchyard`.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TestStack, TEST_SERVICES, waitFor } from '@switchyard/testing';

jest.setTimeout(120000);

const run = promisify(execFile);
const ROOT = join(__dirname, '..');

describe('docs/messaging.md examples', () => {
  let stack: TestStack;
  let doc: string;
  let dir: string;

  beforeAll(async () => {
    stack = await TestStack.create();
    await stack.start(['gateway', 'worker', 'progress-tracker']);
    dir = join(ROOT, 'tmp', stack.id, 'docs-examples');
    mkdirSync(dir, { recursive: true });
    doc = readFileSync(join(ROOT, 'docs', 'messaging.md'), 'utf8')
      .replace(/switchyard\.(intake|events)/g, `${stack.id}.$1`)
      // Queues the examples declare, under the stack's prefix so that the stack removes them.
      .replace(/acme\.switchyard-events/g, `${stack.id}.acme-events`)
      .replace(/my-replies/g, `${stack.id}.my-replies`)
      .replace(/amqp:\/\/guest:guest@127\.0\.0\.1:5672/g, TEST_SERVICES.amqp)
      // The examples use the development admin key, which test stacks accept unless they set one.
      .replace(/sy_dev_admin_key_not_for_production/g, stack.adminKey);
  });

  afterAll(async () => {
    await stack?.destroy();
  });

  const block = (language: string): string => {
    const code = new RegExp('```' + language + '\\n([\\s\\S]*?)```').exec(doc)?.[1];
    if (!code) throw new Error(`docs/messaging.md has no ${language} block`);
    return code;
  };

  it('the amqp-tools example gets a reply and prints the job.completed event', async () => {
    const events = join(dir, 'events.txt');
    const backgrounded = /^(amqp-consume .*) &$/m;
    const script = block('sh');
    // The listener runs in the background in the example; here its output goes to a file.
    expect(script).toMatch(backgrounded);
    const runnable = script.replace(backgrounded, `$1 > ${events} 2>&1 & CONSUMER=$!`);
    writeFileSync(
      join(dir, 'example.sh'),
      `${runnable}\n# wait for the 2 s job, then stop the listener\nsleep 4\nkill $CONSUMER\n`,
    );
    const { stdout } = await run('bash', [join(dir, 'example.sh')], { timeout: 60000 }).catch(
      (error: { stdout?: string; stderr?: string }) => ({
        stdout: `${error.stdout ?? ''}${error.stderr ?? ''}`,
      }),
    );
    expect(stdout).toMatch(/\{"jobId":"[0-9a-f-]{36}","status":"queued"\}/);
    const jobId = /"jobId":"([0-9a-f-]{36})"/.exec(stdout)?.[1];
    const completed = readFileSync(events, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { type: string; subject: string; correlationid: string });
    expect(completed).toContainEqual(
      expect.objectContaining({
        type: 'switchyard.job.completed',
        subject: jobId,
        correlationid: 'order-1001',
      }),
    );
  });

  it('the Node.js example gets a reply and logs the job.completed event', async () => {
    const file = join(dir, 'submit.mjs');
    writeFileSync(file, block('js'));
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
