// The examples of docs/messaging.md, run as written against a running stack, so that the
// documentation's "working example" stays working. Only the names change: the stack's own AMQP
// prefix instead of `switchyard`. Shared by intake-docs.e2e.ts (the Node.js example, `npm test`)
// and intake-docs.tools.ts (the amqp-tools example, `npm run test:tools`).
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestStack, TEST_SERVICES } from '@switchyard/testing';

export const ROOT = join(__dirname, '..', '..');

export interface DocsExamples {
  stack: TestStack;
  /** A scratch folder of this run for the example files. */
  dir: string;
  /** The first fenced block of this language in docs/messaging.md, with the stack's names. */
  block(language: string): string;
}

/** Starts a stack that runs jobs and reads docs/messaging.md with its names substituted. */
export async function startDocsExamples(): Promise<DocsExamples> {
  const stack = await TestStack.create();
  await stack.start(['gateway', 'worker', 'progress-tracker']);
  const dir = join(ROOT, 'tmp', stack.id, 'docs-examples');
  mkdirSync(dir, { recursive: true });
  const doc = readFileSync(join(ROOT, 'docs', 'messaging.md'), 'utf8')
    .replace(/switchyard\.(intake|events)/g, `${stack.id}.$1`)
    // Queues the examples declare, under the stack's prefix so that the stack removes them.
    .replace(/acme\.switchyard-events/g, `${stack.id}.acme-events`)
    .replace(/my-replies/g, `${stack.id}.my-replies`)
    .replace(/amqp:\/\/guest:guest@127\.0\.0\.1:5672/g, TEST_SERVICES.amqp)
    // The examples use the development admin key, which test stacks accept unless they set one.
    .replace(/sy_dev_admin_key_not_for_production/g, stack.adminKey);
  return {
    stack,
    dir,
    block(language) {
      const code = new RegExp('```' + language + '\\n([\\s\\S]*?)```').exec(doc)?.[1];
      if (!code) throw new Error(`docs/messaging.md has no ${language} block`);
      return code;
    },
  };
}
