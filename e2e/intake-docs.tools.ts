// docs/messaging.md's amqp-tools example, run as written against a running stack. It needs the
// amqp-tools commands (Debian package `amqp-tools`), so it runs in `npm run test:tools`.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startDocsExamples, type DocsExamples } from './support/docs-examples';

jest.setTimeout(120000);

const run = promisify(execFile);

describe('docs/messaging.md examples (amqp-tools)', () => {
  let examples: DocsExamples;

  beforeAll(async () => {
    examples = await startDocsExamples();
  });

  afterAll(async () => {
    await examples?.stack.destroy();
  });

  it('the amqp-tools example gets a reply and prints the job.completed event', async () => {
    const events = join(examples.dir, 'events.txt');
    const backgrounded = /^(amqp-consume .*) &$/m;
    const script = examples.block('sh');
    // The listener runs in the background in the example; here its output goes to a file.
    expect(script).toMatch(backgrounded);
    const runnable = script.replace(backgrounded, `$1 > ${events} 2>&1 & CONSUMER=$!`);
    writeFileSync(
      join(examples.dir, 'example.sh'),
      `${runnable}\n# wait for the 2 s job, then stop the listener\nsleep 4\nkill $CONSUMER\n`,
    );
    const { stdout } = await run('bash', [join(examples.dir, 'example.sh')], { timeout: 60000 }).catch(
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
});
