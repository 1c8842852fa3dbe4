#!/usr/bin/env node
import { run } from './cli';
import { processIo } from './settings';

const controller = new AbortController();
// First Ctrl-C stops a watch cleanly; a second one exits at once.
process.once('SIGINT', () => {
  controller.abort();
  process.once('SIGINT', () => process.exit(130));
});

run(process.argv.slice(2), { ...processIo(), signal: controller.signal }).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `switchyard: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
