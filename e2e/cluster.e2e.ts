import type { Pool } from 'pg';
import {
  rabbitmqInstalled,
  TestCluster,
  TestStack,
  waitFor,
  type ServiceProcess,
  type TestApi,
} from '@switchyard/testing';
import {
  expectMachineBrokerAnswers,
  openCompletionStream,
  tapEvents,
  type CompletionStream,
  type EventTap,
} from './support/cluster';
import { expectAllCompleted, jobsDb } from './support/dispatch';
import { expectNoOverlappingAttempts } from './support/outages';
import { expectPriorityOrder } from './support/priority';

jest.setTimeout(600000);

/**
 * Switchyard on a real three-node RabbitMQ cluster (tools/cluster.mjs: Debian's rabbitmq-server,
 * own node names, ports, data and cookie) with AMQP_QUEUE_TYPE=quorum: one node's Erlang VM is
 * killed with SIGKILL while 5,000 jobs are submitted, and started again 10 s later. The machine's
 * own broker on 5672 is checked to answer before, during and after.
 */
const JOBS = 5000;
const KILL_AFTER_SUBMITTED = 1500;
const NODE_DOWN_MS = 10000;

if (!rabbitmqInstalled()) {
  process.stderr.write(
    [
      '',
      '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
      '!!  e2e/cluster.e2e.ts SKIPPED: rabbitmq-server is not installed, so no cluster  !!',
      '!!  can be started. Install it (apt-get install rabbitmq-server; .ci/run does).   !!',
      '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
      '',
    ].join('\n') + '\n',
  );
}
const describeWithRabbitMq = rabbitmqInstalled() ? describe : describe.skip;

describeWithRabbitMq('a three-node RabbitMQ cluster with quorum queues', () => {
  const cluster = new TestCluster();

  beforeAll(async () => {
    await expectMachineBrokerAnswers();
    await cluster.up();
    expect(await cluster.running()).toHaveLength(3);
  });

  afterAll(async () => {
    await cluster.down();
    // The cluster came and went beside the machine's broker, which still answers.
    await expectMachineBrokerAnswers();
  });

  const quorumStack = (env: Record<string, string> = {}) =>
    TestStack.create({ AMQP_URL: cluster.amqpUrl, AMQP_QUEUE_TYPE: 'quorum', ...env });

  describe('2 gateways, 3 workers, 2 trackers; a node killed mid-run', () => {
    let stack: TestStack;
    let db: Pool;
    let gateways: ServiceProcess[];
    let streams: CompletionStream[] = [];
    let tap: EventTap | undefined;

    beforeAll(async () => {
      stack = await quorumStack({
        WORKER_CONCURRENCY: '16',
        // A dispatch message whose publish failed with its node is released again after this.
        REDISPATCH_AFTER_MS: '10000',
      });
      await stack.start(['gateway', 'progress-tracker']);
      // One at a time: on a loaded 2-core machine five processes booting at once can each take
      // longer than a start is allowed.
      gateways = [stack.service('gateway'), await stack.spawn('gateway')];
      await stack.spawn('progress-tracker');
      for (let i = 0; i < 3; i++) await stack.spawn('worker');
      db = jobsDb(stack);
    });

    afterAll(async () => {
      for (const stream of streams) stream.close();
      await tap?.close();
      await db?.end();
      await stack?.destroy();
    });

    /** Submits `count` jobs in batches of 100 over both gateways; a batch that fails is sent again (idempotency keys). */
    async function submitAll(apis: TestApi[], onProgress: (submitted: number) => void): Promise<string[]> {
      const batches = Math.ceil(JOBS / 100);
      const ids: string[][] = new Array<string[]>(batches);
      let next = 0;
      let submitted = 0;
      const lane = async () => {
        for (let b = next++; b < batches; b = next++) {
          const jobs = Array.from({ length: 100 }, (_, k) => ({
            type: 'synthetic',
            payload: { durationMs: 20 },
            idempotencyKey: `cluster-${stack.id}-${b * 100 + k}`,
          }));
          const body = await waitFor(
            async () => {
              const response = await apis[b % apis.length].post<{ jobs: { id: string }[] }>('/jobs/batch', {
                jobs,
              });
              return response.status === 202 ? response.body : undefined;
            },
            { timeoutMs: 60000, intervalMs: 500, what: `batch ${b} accepted` },
          );
          ids[b] = body.jobs.map((j) => j.id);
          submitted += jobs.length;
          onProgress(submitted);
        }
      };
      await Promise.all([lane(), lane()]);
      return ids.flat();
    }

    /** The jobs whose events the test queue has not all seen: what it saw, the history, the outbox. */
    async function describeUnseen(ids: string[]): Promise<string> {
      const unseen = ids.filter((id) => (tap!.seen.get(id)?.size ?? 0) < 3);
      const lines = [`${unseen.length} jobs with fewer than 3 events on the bus:`];
      for (const jobId of unseen.slice(0, 10)) {
        const { rows: history } = await db.query<{ seq: string; event: string }>(
          `SELECT seq, event FROM job_events WHERE job_id = $1 ORDER BY seq`,
          [jobId],
        );
        const { rows: outbox } = await db.query<{ name: string }>(`SELECT name FROM outbox WHERE job_id = $1`, [
          jobId,
        ]);
        const seen = [...(tap!.seen.get(jobId) ?? [])].map((seq) => `${seq} ${tap!.described.get(`${jobId}:${seq}`)}`);
        lines.push(
          `  ${jobId}: seen ${seen.join(', ') || 'nothing'}; history ${history.map((h) => `${h.seq}:${h.event}`).join(' ')}` +
            `; outbox ${outbox.map((o) => o.name).join(' ') || 'empty'}`,
        );
      }
      return lines.join('\n');
    }

    /** What the test knows of events seen on the bus but not in job_events: the failure's evidence. */
    async function describeLost(lost: string[]): Promise<string> {
      const lines = [`${lost.length} events missing from job_events:`];
      for (const key of lost.slice(0, 20)) {
        const [jobId] = key.split(':');
        const { rows: job } = await db.query<{ status: string; attempts: number }>(
          `SELECT status, attempts FROM jobs WHERE id = $1`,
          [jobId],
        );
        const { rows: history } = await db.query<{ seq: string; event: string }>(
          `SELECT seq, event FROM job_events WHERE job_id = $1 ORDER BY seq`,
          [jobId],
        );
        const { rows: parked } = await db.query<{ n: string }>(
          `SELECT count(*) AS n FROM parked_events WHERE job_id = $1`,
          [jobId],
        );
        const logs = [...stack.services.values(), ...stack.extra]
          .flatMap((p) => p.logs())
          .filter((l) => JSON.stringify(l).includes(jobId))
          .map((l) => `${String(l['msg'])}`);
        lines.push(
          `  ${key} (${tap!.described.get(key)}): job ${job[0] ? `${job[0].status}, ${job[0].attempts} attempts` : 'absent'}` +
            `, history ${history.map((h) => `${h.seq}:${h.event}`).join(' ')}, parked ${parked[0]?.n}` +
            `, logs: ${logs.join(' | ') || 'none'}`,
        );
      }
      const warnings = [...stack.services.values(), ...stack.extra]
        .flatMap((p) => p.logs())
        .filter((l) => ['warn', 'error', 'fatal'].includes(String(l['level'])))
        .map((l) => String(l['msg']));
      const counts = new Map<string, number>();
      for (const w of warnings) counts.set(w, (counts.get(w) ?? 0) + 1);
      lines.push(`warnings: ${[...counts].map(([m, n]) => `${n}× ${m}`).join('; ')}`);
      return lines.join('\n');
    }

    it('5,000 jobs while a node is kill -9ed and restarted 10 s later: all complete once, history whole, SSE on both gateways sees every one', async () => {
      const apis = gateways.map((g) => stack.api(stack.adminKey, g));
      streams = await Promise.all(gateways.map((g) => openCompletionStream(g.url, stack.adminKey)));
      // Every durable queue the services declared is a quorum queue (a type cannot change in place,
      // so one declared classic by mistake would stay classic): work, retry tiers, DLQ, intake and
      // its rejected queue, the tracker's events. The workers' control queues are exclusive and
      // auto-delete, which quorum queues cannot be (docs/scaling.md): classic, one per worker.
      const types = await cluster.queueTypes(`${stack.id}.`);
      const declared = Object.keys(types).sort();
      process.stdout.write(
        `cluster: the services declared ${declared.length} queues: ${declared.map((q) => `${q.slice(stack.id.length + 1)} ${types[q]}`).join(', ')}\n`,
      );
      const durable = ['jobs.default', 'retry.1000', 'dlq', 'intake', 'intake.rejected', 'tracker'];
      expect(declared).toEqual(expect.arrayContaining(durable.map((kind) => `${stack.id}.${kind}`)));
      const isControl = (name: string) => name.startsWith(`${stack.id}.control.`);
      expect(declared.filter(isControl).map((name) => types[name])).toEqual([
        'classic',
        'classic',
        'classic',
      ]);
      expect(declared.filter((name) => !isControl(name) && types[name] !== 'quorum')).toEqual([]);

      // The node to kill: one that some service processes are connected to, so that their failover
      // is certain, not left to the random start node each client picks — the work queue's leader
      // when it is one of those (its loss then forces a leader election too), as it usually is,
      // since a quorum queue's leader is placed on the node of the client that declared it.
      const processes = [...stack.services.values(), ...stack.extra];
      const nodeUrls = cluster.amqpUrl.split(',');
      /** The nodes (1…3) a process's log lines `msg` name; 0 for a line naming none of them. */
      const connectedTo = (p: ServiceProcess, msg: string) =>
        p
          .logs()
          .filter((l) => l['msg'] === msg)
          .map((l) => {
            const port = /^amqp:\/\/[^,\s]*:(\d+)\/?$/.exec(String(l['url']))?.[1];
            return port ? nodeUrls.findIndex((url) => url.endsWith(`:${port}`)) + 1 : 0;
          });
      const label = (p: ServiceProcess) => `${p.name}:${p.port}`;
      const hosted = (node: number) =>
        processes.filter((p) => connectedTo(p, 'AMQP connected').includes(node));
      const leader = await cluster.leaderOf(`${stack.id}.jobs.default`);
      const busiest = [1, 2, 3].sort((a, b) => hosted(b).length - hosted(a).length)[0] ?? leader;
      const victim = hosted(leader).length > 0 ? leader : busiest;
      const onVictim = hosted(victim);
      expect(onVictim.length).toBeGreaterThan(0);
      const reconnectsBefore = new Map(processes.map((p) => [p, connectedTo(p, 'AMQP reconnected').length]));
      process.stdout.write(
        `cluster: killing node ${victim} (${victim === leader ? 'the work queue’s leader' : `the leader is node ${leader}, which no process uses`}), ` +
          `which ${onVictim.length} of ${processes.length} processes are connected to: ${onVictim.map(label).join(', ')}\n`,
      );
      // Every event published, as seen from a node that stays up: each must reach job_events.
      const survivor = cluster.nodeUrl((victim % 3) + 1);
      tap = await tapEvents(survivor, `${stack.id}.events`, `${stack.id}.test-tap`);

      let outage: Promise<void> | undefined;
      const started = Date.now();
      const ids = await submitAll(apis, (submitted) => {
        if (submitted < KILL_AFTER_SUBMITTED || outage) return;
        outage = (async () => {
          await cluster.kill(victim);
          const killedAt = Date.now();
          await expectMachineBrokerAnswers();
          await new Promise((resolve) => setTimeout(resolve, NODE_DOWN_MS - (Date.now() - killedAt)));
          await cluster.start(victim);
        })();
      });
      expect(outage).toBeDefined();
      await outage;
      expect(new Set(ids).size).toBe(JOBS);
      await expectAllCompleted(db, ids, 300000);
      process.stdout.write(
        `cluster: ${JOBS} jobs completed ${Date.now() - started} ms after the first submission\n`,
      );

      // Each job ran once: one claim (attempts), one started and one completed event, never two
      // attempts at once.
      const { rows } = await db.query<{ attempts: number; n: string }>(
        `SELECT attempts, count(*) AS n FROM jobs WHERE id = ANY($1::uuid[]) GROUP BY attempts`,
        [ids],
      );
      expect(Object.fromEntries(rows.map((r) => [r.attempts, Number(r.n)]))).toEqual({ 1: JOBS });
      await expectNoOverlappingAttempts(db, ids);

      // No history row lost: every event that went over the bus is a row of job_events.
      const seenOnBus = () => [...tap!.seen.values()].reduce((n, seqs) => n + seqs.size, 0);
      await waitFor(() => ids.every((id) => (tap!.seen.get(id)?.size ?? 0) >= 3), {
        timeoutMs: 60000,
        intervalMs: 500,
        what: 'the test queue to receive every job’s events',
      }).catch(async (error: Error) => {
        throw new Error(`${error.message}\n${await describeUnseen(ids)}`);
      });
      let lost: string[] = [];
      const missing = await waitFor(
        async () => {
          const { rows: stored } = await db.query<{ job_id: string; seq: string }>(
            `SELECT job_id, seq FROM job_events WHERE job_id = ANY($1::uuid[])`,
            [[...tap!.seen.keys()]],
          );
          const have = new Set(stored.map((r) => `${r.job_id}:${r.seq}`));
          lost = [...tap!.seen].flatMap(([id, seqs]) =>
            [...seqs].filter((seq) => !have.has(`${id}:${seq}`)).map((seq) => `${id}:${seq}`),
          );
          return lost.length === 0 ? lost : undefined;
        },
        { timeoutMs: 60000, intervalMs: 1000, what: 'every event seen on the bus in job_events' },
      ).catch(async (error: Error) => {
        throw new Error(`${error.message}\n${await describeLost(lost)}`);
      });
      expect(missing).toEqual([]);
      const reconnected = processes.filter(
        (p) => connectedTo(p, 'AMQP reconnected').length > (reconnectsBefore.get(p) ?? 0),
      );
      process.stdout.write(
        `cluster: ${seenOnBus()} events on the bus, all in job_events; ${reconnected.length} of ${processes.length} processes reconnected to another node\n`,
      );
      // Client failover happened: every process that was on the killed node reconnected, and to a
      // node that stayed up (the next in its list) at least once.
      expect(onVictim.filter((p) => !reconnected.includes(p)).map(label)).toEqual([]);
      const landedOn = onVictim.flatMap((p) =>
        connectedTo(p, 'AMQP reconnected').slice(reconnectsBefore.get(p) ?? 0),
      );
      expect(landedOn.some((node) => node !== victim && node > 0)).toBe(true);
      const { rows: kinds } = await db.query<{ event: string; n: string }>(
        `SELECT event, count(*) AS n FROM job_events WHERE job_id = ANY($1::uuid[])
           AND event IN ('queued', 'started', 'completed') GROUP BY event`,
        [ids],
      );
      expect(Object.fromEntries(kinds.map((k) => [k.event, Number(k.n)]))).toEqual({
        queued: JOBS,
        started: JOBS,
        completed: JOBS,
      });

      // SSE clients on either gateway saw every job finish.
      for (const [i, stream] of streams.entries()) {
        await waitFor(() => stream.ended() === undefined && ids.every((id) => stream.completed.has(id)), {
          timeoutMs: 60000,
          intervalMs: 500,
          what: `gateway ${i + 1}'s SSE client to see all ${JOBS} completions`,
        }).catch((error: Error) => {
          throw new Error(
            `${error.message}: saw ${stream.completed.size}; ${stream.ended() ?? 'stream open'}`,
          );
        });
      }
      expect(await cluster.running()).toHaveLength(3);
    });
  });

  describe('priority on quorum queues', () => {
    let stack: TestStack;
    const WINDOW = 4;

    beforeAll(async () => {
      stack = await quorumStack({ DISPATCH_WINDOW: String(WINDOW) });
      await stack.start(['gateway', 'progress-tracker']);
    });

    afterAll(async () => {
      await stack?.destroy();
    });

    it('starts queued priority-9 jobs before priority-2 jobs queued earlier, from the release order alone', async () => {
      await expectPriorityOrder(stack, stack.api(), WINDOW);
    });

    it('a retried job comes back through the quorum delay queue', async () => {
      const worker = await stack.spawn('worker');
      try {
        const api = stack.api();
        const id = await api.submit({ type: 'synthetic', payload: { failAttempts: 1 } });
        await api.waitForStatus(id, 'completed', 20000);
        const done = await api.waitForJob(id, (job) => job.history.some((h) => h.event === 'completed'));
        expect(done.attempts).toBe(2);
        // The 1 s tier, not the sweeper's overdue re-dispatch (RETRY_OVERDUE_MS, 30 s).
        const times = (event: string) =>
          done.history.filter((h) => h.event === event).map((h) => new Date(h.at).getTime());
        expect(times('started')[1] - times('retrying')[0]).toBeLessThan(10000);
      } finally {
        await worker.stop('SIGTERM');
      }
    });
  });
});
