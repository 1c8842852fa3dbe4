// The BullMQ side of the comparison, in its own process like the Switchyard worker: a no-op
// processor at the given concurrency. Reports "ready" once connected, then "done" with the time
// its `count`-th job completed (BullMQ keeps completed jobs in Redis by default, as here).
import { Worker } from 'bullmq';

const [redisUrl, prefix, queueName, concurrencyArg, countArg] = process.argv.slice(2);
const url = new URL(redisUrl ?? 'redis://127.0.0.1:6379');
// The counts at which to report "done": the warm-up's, then the measured run's (cumulative).
const counts = new Set(String(countArg).split(',').map(Number));
let completed = 0;

const worker = new Worker(queueName ?? 'bench', () => Promise.resolve(undefined), {
  connection: { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null },
  prefix,
  concurrency: Number(concurrencyArg),
});
worker.on('completed', () => {
  completed += 1;
  if (counts.has(completed)) process.send?.({ kind: 'done', at: Date.now(), completed });
});
worker.on('failed', (_job, error) => process.send?.({ kind: 'failed', message: error.message }));
process.on('message', (message) => {
  if (message?.kind === 'stop') void worker.close().then(() => process.exit(0));
});
void worker.waitUntilReady().then(() => process.send?.({ kind: 'ready' }));
