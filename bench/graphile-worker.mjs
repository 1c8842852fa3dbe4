// The Graphile Worker side of the comparison, in its own process like the Switchyard worker: a
// no-op task at the given concurrency against its own database. Reports "ready" once started
// (it runs its migrations first), then "done" with the time its `count`-th job was completed and
// written back to PostgreSQL (`job:complete`; Graphile Worker deletes completed jobs).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { run, Logger } = require('graphile-worker');

const [connectionString, concurrencyArg, countArg] = process.argv.slice(2);
// The counts at which to report "done": the warm-up's, then the measured run's (cumulative).
const counts = new Set(String(countArg).split(',').map(Number));
let completed = 0;

const logger = new Logger(() => (level, message) => {
  if (level === 'error') process.stderr.write(`[graphile-worker] ${message}\n`);
});
const runner = await run({
  connectionString,
  concurrency: Number(concurrencyArg),
  noHandleSignals: true,
  logger,
  taskList: { noop: () => Promise.resolve() },
});
runner.events.on('job:complete', ({ error }) => {
  if (error) {
    process.send?.({ kind: 'failed', message: String(error) });
    return;
  }
  completed += 1;
  if (counts.has(completed)) process.send?.({ kind: 'done', at: Date.now(), completed });
});
process.on('message', (message) => {
  if (message?.kind === 'stop') void runner.stop().then(() => process.exit(0));
});
process.send?.({ kind: 'ready' });
