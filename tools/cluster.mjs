// `npm run cluster:up` / `npm run cluster:down`: a three-node RabbitMQ cluster on this machine, from
// Debian's rabbitmq-server, beside (never instead of) the machine's own broker on 5672.
//
// Each node has its own name (sy1@localhost …), AMQP port (5701 …, on 127.0.0.1 only),
// distribution port (25701 …), data and log directories, no plugins (so no management listener)
// and its own Erlang cookie (HOME per cluster with .erlang.cookie, mode 400); none reads
// /etc/rabbitmq. The machine's broker (rabbit@localhost, 5672) is never stopped, configured or
// joined: every rabbitmqctl call names one of these nodes with -n.
//
//   node tools/cluster.mjs up       start the nodes, join sy2 and sy3 to sy1, print AMQP_URL
//   node tools/cluster.mjs down     stop the nodes and remove their directory
//   node tools/cluster.mjs status   the nodes' pids and the cluster's running nodes
//   node tools/cluster.mjs kill N   kill -9 node N's Erlang VM (beam.smp), as a crash would
//   node tools/cluster.mjs start N  start node N again (it rejoins the cluster by itself)
//   node tools/cluster.mjs leader Q  which node leads quorum queue Q
//   node tools/cluster.mjs types [P]  each queue's type (classic, quorum, stream), names starting with P
//
// Settings (environment): SWITCHYARD_CLUSTER_DIR (default <tmp>/switchyard-cluster),
// SWITCHYARD_CLUSTER_NAME (node name prefix, default sy), SWITCHYARD_CLUSTER_PORT (first AMQP
// port, default 5701), SWITCHYARD_CLUSTER_NODES (default 3). `up` prints, as its last line, a JSON
// object {"amqpUrl": "...", "nodes": [...]} for scripts.
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const DIR = process.env.SWITCHYARD_CLUSTER_DIR || join(tmpdir(), 'switchyard-cluster');
const NAME = process.env.SWITCHYARD_CLUSTER_NAME || 'sy';
const BASE_PORT = Number(process.env.SWITCHYARD_CLUSTER_PORT || 5701);
const COUNT = Number(process.env.SWITCHYARD_CLUSTER_NODES || 3);
/** The machine's own broker: never one of ours. */
const RESERVED_PORTS = new Set([5672, 25672]);
const BIN_DIRS = ['/usr/lib/rabbitmq/bin', '/usr/sbin'];

/** Debian's scripts without the /usr/sbin wrapper, which switches to the rabbitmq user and drops our environment. */
function bin(tool) {
  for (const dir of BIN_DIRS) if (existsSync(join(dir, tool))) return join(dir, tool);
  return undefined;
}

function rabbitmqInstalled() {
  return bin('rabbitmq-server') !== undefined && bin('rabbitmqctl') !== undefined;
}

function nodes() {
  return Array.from({ length: COUNT }, (_, i) => {
    const id = `${NAME}${i + 1}`;
    const port = BASE_PORT + i;
    return {
      index: i + 1,
      name: `${id}@localhost`,
      port,
      distPort: port + 20000,
      dir: join(DIR, id),
      pidFile: join(DIR, id, 'pid'),
    };
  });
}

function clusterEnv() {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    // The CLI and the nodes find the cookie in $HOME/.erlang.cookie.
    HOME: join(DIR, 'home'),
    // Not /etc/rabbitmq/rabbitmq-env.conf, which names the machine's node.
    RABBITMQ_CONF_ENV_FILE: join(DIR, 'rabbitmq-env.conf'),
    ERL_EPMD_ADDRESS: '127.0.0.1',
  };
}

function nodeEnv(node) {
  return {
    ...clusterEnv(),
    RABBITMQ_NODENAME: node.name,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(node.port),
    RABBITMQ_DIST_PORT: String(node.distPort),
    RABBITMQ_CONFIG_FILE: join(node.dir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(node.dir, 'advanced.config'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(node.dir, 'enabled_plugins'),
    RABBITMQ_MNESIA_BASE: join(node.dir, 'data'),
    RABBITMQ_LOG_BASE: join(node.dir, 'log'),
    RABBITMQ_PID_FILE: node.pidFile,
    // A node that fails to boot writes its crash dump beside its data, not into the caller's directory.
    ERL_CRASH_DUMP: join(node.dir, 'erl_crash.dump'),
    // Distribution on the loopback interface only, like the machine's broker.
    ERL_FLAGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  };
}

function prepare() {
  for (const node of nodes()) {
    if (RESERVED_PORTS.has(node.port) || RESERVED_PORTS.has(node.distPort)) {
      throw new Error(
        `port ${node.port} belongs to the machine's own broker; pick another SWITCHYARD_CLUSTER_PORT`,
      );
    }
    if (node.name.startsWith('rabbit@')) throw new Error('rabbit@ is the machine broker’s node name');
  }
  mkdirSync(join(DIR, 'home'), { recursive: true });
  const cookie = join(DIR, 'home', '.erlang.cookie');
  if (!existsSync(cookie)) {
    writeFileSync(cookie, randomBytes(24).toString('hex').toUpperCase(), { mode: 0o400 });
  }
  chmodSync(cookie, 0o400);
  writeFileSync(
    join(DIR, 'rabbitmq-env.conf'),
    '# the Switchyard test cluster reads no machine-wide settings\n',
  );
  for (const node of nodes()) {
    mkdirSync(join(node.dir, 'data'), { recursive: true });
    mkdirSync(join(node.dir, 'log'), { recursive: true });
    writeFileSync(join(node.dir, 'enabled_plugins'), '[].\n');
    writeFileSync(
      join(node.dir, 'rabbitmq.conf'),
      [
        `listeners.tcp.1 = 127.0.0.1:${node.port}`,
        // Several nodes and other services share this machine: bound each node's memory, not 40 % of RAM each.
        'vm_memory_high_watermark.absolute = 1GB',
        'disk_free_limit.absolute = 100MB',
        'log.console = false',
        `log.file = ${NAME}.log`,
        '',
      ].join('\n'),
    );
  }
}

async function ctl(node, args, timeoutMs = 120000) {
  const { stdout } = await run(bin('rabbitmqctl'), ['-n', node.name, ...args], {
    env: clusterEnv(),
    timeout: timeoutMs,
  });
  return stdout.trim();
}

function pidOf(node) {
  try {
    const pid = Number(readFileSync(node.pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The pid from the node's pid file, if that process is alive and is this node's Erlang VM. */
function livePid(node) {
  const pid = pidOf(node);
  if (pid === undefined) return undefined;
  try {
    // An Erlang VM with this cluster's HOME: not the machine's broker, not a reused pid.
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const home = cmdline.indexOf('-home');
    return cmdline[0]?.endsWith('beam.smp') && cmdline[home + 1] === join(DIR, 'home') ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Starts one node in the background and waits until RabbitMQ runs on it. */
async function startNode(node) {
  if (livePid(node)) return;
  rmSync(node.pidFile, { force: true });
  const started = spawnSync(bin('rabbitmq-server'), ['-detached'], { env: nodeEnv(node), encoding: 'utf8' });
  if (started.status !== 0) {
    throw new Error(`${node.name} did not start: ${started.stderr || started.stdout}`);
  }
  // `wait` reads the pid file the node writes, then waits for the rabbit application.
  await ctl(node, ['wait', '--timeout', '120', node.pidFile], 130000);
}

async function up() {
  if (!rabbitmqInstalled())
    throw new Error('rabbitmq-server is not installed (apt-get install rabbitmq-server)');
  prepare();
  const all = nodes();
  await Promise.all(all.map((node) => startNode(node)));
  const [first, ...others] = all;
  const running = await runningNodes(first);
  for (const node of others) {
    if (running.includes(node.name)) continue;
    await ctl(node, ['stop_app']);
    await ctl(node, ['reset']);
    await ctl(node, ['join_cluster', first.name]);
    await ctl(node, ['start_app']);
  }
  const members = await runningNodes(first);
  if (members.length !== all.length) throw new Error(`cluster has ${members.join(', ')} only`);
  return describe();
}

async function runningNodes(node) {
  const out = await ctl(node, ['cluster_status', '--formatter', 'json']);
  const status = JSON.parse(out.slice(out.indexOf('{')));
  return status.running_nodes ?? [];
}

function describe() {
  const all = nodes();
  return {
    amqpUrl: all.map((n) => `amqp://guest:guest@127.0.0.1:${n.port}`).join(','),
    nodes: all.map((n) => ({ name: n.name, port: n.port, pid: livePid(n) ?? null })),
    dir: DIR,
  };
}

/** kill -9 of the node's Erlang VM: what a crash or a power loss does to it. */
function killNode(node) {
  const pid = livePid(node);
  if (pid === undefined) throw new Error(`${node.name} is not running`);
  process.kill(pid, 'SIGKILL');
  return pid;
}

async function waitGone(pid, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!existsSync(`/proc/${pid}`)) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

async function down() {
  await Promise.all(
    nodes().map(async (node) => {
      const pid = livePid(node);
      if (pid === undefined) return;
      // A clean stop first; a node that does not go within 20 s is killed.
      await ctl(node, ['shutdown'], 20000).catch(() => undefined);
      if (!(await waitGone(pid, 2000)) && livePid(node) === pid) {
        process.kill(pid, 'SIGKILL');
        await waitGone(pid, 5000);
      }
    }),
  );
  rmSync(DIR, { recursive: true, force: true });
}

function anyRunningNode() {
  const alive = nodes().find((n) => livePid(n) !== undefined);
  if (!alive) throw new Error('no node is running');
  return alive;
}

function nodeArg(value) {
  const node = nodes().find((n) => String(n.index) === value || n.name === value);
  if (!node) throw new Error(`no node ${value}: 1..${COUNT} or a node name`);
  return node;
}

async function main(argv) {
  const [command, arg] = argv;
  switch (command) {
    case 'up': {
      const info = await up();
      console.log(`RabbitMQ cluster of ${info.nodes.length} nodes up (${info.dir}):`);
      for (const n of info.nodes) console.log(`  ${n.name}  amqp 127.0.0.1:${n.port}  pid ${n.pid}`);
      console.log(`AMQP_URL=${info.amqpUrl} AMQP_QUEUE_TYPE=quorum`);
      console.log(JSON.stringify(info));
      return;
    }
    case 'down':
      await down();
      console.log(`RabbitMQ cluster stopped, ${DIR} removed`);
      return;
    case 'status': {
      const info = describe();
      const alive = info.nodes.find((n) => n.pid !== null);
      const running = alive ? await runningNodes(nodes().find((n) => n.name === alive.name)) : [];
      console.log(JSON.stringify({ ...info, running }));
      return;
    }
    case 'kill': {
      const node = nodeArg(arg);
      const pid = killNode(node);
      await waitGone(pid, 10000);
      console.log(JSON.stringify({ killed: node.name, pid }));
      return;
    }
    case 'start': {
      const node = nodeArg(arg);
      await startNode(node);
      console.log(JSON.stringify({ started: node.name, pid: livePid(node) }));
      return;
    }
    case 'leader': {
      // The node that leads quorum queue `arg` (asked of any running node).
      const out = await ctl(anyRunningNode(), ['list_queues', '-q', 'name', 'leader', '--no-table-headers']);
      const line = out.split('\n').find((l) => l.split('\t')[0] === arg);
      if (!line) throw new Error(`no queue ${arg}`);
      const leader = line.split('\t')[1]?.trim();
      console.log(
        JSON.stringify({ queue: arg, leader, index: nodes().find((n) => n.name === leader)?.index ?? null }),
      );
      return;
    }
    case 'types': {
      // {"queues": {"<name>": "quorum", ...}}: what each queue (named `arg…`, or all) was declared as.
      const out = await ctl(anyRunningNode(), ['list_queues', '-q', 'name', 'type', '--no-table-headers']);
      const queues = {};
      for (const line of out.split('\n')) {
        const [name, type] = line.split('\t').map((field) => field.trim());
        if (name && type && name.startsWith(arg ?? '')) queues[name] = type;
      }
      console.log(JSON.stringify({ queues }));
      return;
    }
    default:
      console.error(
        'usage: node tools/cluster.mjs up|down|status|kill <n>|start <n>|leader <queue>|types [prefix]',
      );
      process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
