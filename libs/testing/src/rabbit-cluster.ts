import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * A three-node RabbitMQ cluster for one test or bench run, through tools/cluster.mjs (the script
 * behind `npm run cluster:up`), with its own directory, node names and ports.
 */

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..', '..');

export function rabbitmqInstalled(): boolean {
  return ['/usr/lib/rabbitmq/bin/rabbitmq-server', '/usr/sbin/rabbitmq-server'].some((p) => existsSync(p));
}

export class TestCluster {
  amqpUrl = '';
  private readonly env: Record<string, string>;

  /** Own directory, node names (syt1@localhost …) and ports, apart from `npm run cluster:up`'s. */
  constructor(basePort = 5711, name = 'syt') {
    this.env = {
      PATH: process.env['PATH'] ?? '',
      SWITCHYARD_CLUSTER_DIR: mkdtempSync(join(tmpdir(), 'switchyard-cluster-test-')),
      SWITCHYARD_CLUSTER_NAME: name,
      SWITCHYARD_CLUSTER_PORT: String(basePort),
    };
  }

  private async tool(...args: string[]): Promise<Record<string, unknown>> {
    const { stdout } = await run(process.execPath, [join(ROOT, 'tools', 'cluster.mjs'), ...args], {
      env: this.env,
      timeout: 240000,
    });
    const lines = stdout.trim().split('\n');
    return JSON.parse(lines[lines.length - 1] ?? '{}') as Record<string, unknown>;
  }

  async up(): Promise<void> {
    const info = await this.tool('up');
    this.amqpUrl = String(info['amqpUrl']);
  }

  down(): Promise<unknown> {
    return this.tool('down').catch(() => undefined);
  }

  /** The index (1…3) of the node leading quorum queue `queue`. */
  async leaderOf(queue: string): Promise<number> {
    return Number((await this.tool('leader', queue))['index']);
  }

  /** Each queue whose name starts with `prefix`, with its type as the cluster reports it (classic, quorum, stream). */
  async queueTypes(prefix: string): Promise<Record<string, string>> {
    return (await this.tool('types', prefix))['queues'] as Record<string, string>;
  }

  /** The AMQP URL of node `index` (1…3). */
  nodeUrl(index: number): string {
    const url = this.amqpUrl.split(',')[index - 1];
    if (!url) throw new Error(`no node ${index} in ${this.amqpUrl}`);
    return url;
  }

  /** kill -9 of node `index`'s Erlang VM. */
  kill(index: number): Promise<unknown> {
    return this.tool('kill', String(index));
  }

  start(index: number): Promise<unknown> {
    return this.tool('start', String(index));
  }

  async running(): Promise<string[]> {
    return (await this.tool('status'))['running'] as string[];
  }
}
