// `npm start`: checks that PostgreSQL, RabbitMQ and Redis answer, applies migrations, then runs
// the four built services in this terminal with prefixed logs (concurrently).
//
// Stopping: SIGTERM, SIGINT or SIGHUP to this process is passed to the four services (each stops
// gracefully) and it exits once they have. The `npm start` script `exec`s this file, so a signal to
// npm reaches it; and if its parent goes away without a signal (npm killed with SIGKILL, the
// terminal gone), it notices within PARENT_POLL_MS and stops the services the same way.
import { execFileSync } from 'node:child_process';
import { Socket } from 'node:net';
import concurrently from 'concurrently';
import { config as readDotenv } from 'dotenv';

readDotenv({ quiet: true });

const DEPENDENCIES = [
  {
    name: 'PostgreSQL',
    variable: 'DATABASE_URL',
    fallback: 'postgres://postgres@127.0.0.1:5432/switchyard',
    defaultPort: 5432,
    fix: 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start   (or: docker compose up -d postgres)',
  },
  {
    name: 'RabbitMQ',
    variable: 'AMQP_URL',
    fallback: 'amqp://guest:guest@127.0.0.1:5672',
    defaultPort: 5672,
    fix: 'rabbitmq-server -detached   (or: docker compose up -d rabbitmq)',
  },
  {
    name: 'Redis',
    variable: 'REDIS_URL',
    fallback: 'redis://127.0.0.1:6379',
    defaultPort: 6379,
    fix: 'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no   (or: docker compose up -d redis)',
  },
];

function reachable(host, port, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => done(true));
  });
}

const checks = await Promise.all(
  DEPENDENCIES.map(async (dep) => {
    // AMQP_URL may list a cluster's nodes separated by commas: one that answers will do.
    const nodes = (process.env[dep.variable] || dep.fallback)
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean)
      .map((item) => {
        const url = new URL(item);
        return { host: url.hostname, port: Number(url.port || dep.defaultPort) };
      });
    const answers = await Promise.all(nodes.map((n) => reachable(n.host, n.port)));
    const live = nodes[answers.indexOf(true)] ?? nodes[0];
    return { ...dep, host: live.host, port: live.port, ok: answers.includes(true) };
  }),
);
const down = checks.filter((c) => !c.ok);
if (down.length) {
  for (const dep of down) {
    console.error(`✗ ${dep.name} is not reachable at ${dep.host}:${dep.port} (${dep.variable}).`);
    console.error(`  Start it with: ${dep.fix}`);
  }
  process.exit(1);
}
console.log(`✓ ${checks.map((c) => `${c.name} ${c.host}:${c.port}`).join(', ')}`);

execFileSync(process.execPath, ['dist/libs/persistence/src/migrate.js'], { stdio: 'inherit' });

const PARENT_POLL_MS = 500;
const parent = process.ppid;

const services = ['gateway', 'worker', 'progress-tracker', 'metrics'];
// The gateway serves the web console (apps/console, built by `npm run build`).
const consoleHost =
  process.env.GATEWAY_HOST && process.env.GATEWAY_HOST !== '0.0.0.0' ? process.env.GATEWAY_HOST : '127.0.0.1';
console.log(
  `✓ web console: http://${consoleHost}:${process.env.GATEWAY_PORT || 3000}/ui (sign in with an API key)`,
);
const { result, commands } = concurrently(
  services.map((name) => ({ name, command: `node dist/apps/${name}/src/main.js` })),
  { prefix: 'name', killOthersOn: ['failure'], prefixColors: ['blue', 'green', 'magenta', 'yellow'] },
);
// concurrently passes SIGINT/SIGTERM/SIGHUP received by this process on to every service.
// Without a parent there is nobody to send one: stop the services as SIGTERM would.
const orphanWatch = setInterval(() => {
  if (process.ppid === parent) return;
  clearInterval(orphanWatch);
  console.error(`the parent process (${parent}) is gone: stopping the services`);
  process.kill(process.pid, 'SIGTERM');
}, PARENT_POLL_MS);
// A second signal while the services stop gracefully: make sure none is left behind.
let signals = 0;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    signals += 1;
    if (signals > 1) for (const command of commands) command.kill('SIGKILL');
  });
}
result.then(
  () => process.exit(0),
  () => process.exit(1),
);
