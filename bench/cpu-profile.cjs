// Preloaded into each service when profiling (`npm run bench -- --profile`), through
// NODE_OPTIONS=--require (Node 20 refuses --cpu-prof there): on SIGUSR2 (sent by the bench when
// a measured window begins, so start-up is left out) it starts the inspector's sampling
// profiler, and on exit writes CPU.<date>.<time>.<pid>.0.001.cpuprofile into BENCH_PROFILE_DIR
// (the services exit through process.exit after SIGTERM).
'use strict';
const inspector = process.getBuiltinModule('node:inspector');
const fs = process.getBuiltinModule('node:fs');
const path = process.getBuiltinModule('node:path');

const dir = process.env.BENCH_PROFILE_DIR;
if (dir) {
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  let started = false;
  process.on('SIGUSR2', () => {
    if (started) return;
    started = true;
    session.post('Profiler.start');
  });
  process.on('exit', () => {
    if (!started) return;
    // The in-process session answers synchronously, so this completes before the exit.
    session.post('Profiler.stop', (error, result) => {
      if (error || !result) return;
      const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '.').slice(0, 15);
      fs.writeFileSync(
        path.join(dir, `CPU.${stamp}.${process.pid}.0.001.cpuprofile`),
        JSON.stringify(result.profile),
      );
    });
  });
}
