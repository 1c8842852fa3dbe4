// `npm start`: checks that PostgreSQL, RabbitMQ and Redis answer, applies migrations, then runs
// the four built services in this terminal with prefixed logs (concurrently).
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
    const url = new URL(process.env[dep.variable] || dep.fallback);
    const port = Number(url.port || dep.defaultPort);
    return { ...dep, host: url.hostname, port, ok: await reachable(url.hostname, port) };
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

const services = ['gateway', 'worker', 'progress-tracker', 'metrics'];
const { result } = concurrently(
  services.map((name) => ({ name, command: `node dist/apps/${name}/src/main.js` })),
  { prefix: 'name', killOthersOn: ['failure'], prefixColors: ['blue', 'green', 'magenta', 'yellow'] },
);
result.then(
  () => process.exit(0),
  () => process.exit(1),
);
