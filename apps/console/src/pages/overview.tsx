import { useRef } from 'react';
import type { DeadLetterGroups, Health, QueueList, StatsView } from '@switchyard/contracts';
import { api } from '../api';
import { useSession } from '../session';
import { ErrorNote, formatMs, Page, Sparkline, usePolling } from '../ui';

const SAMPLES = 60;

interface Snapshot {
  stats: StatsView;
  queues: QueueList;
  dlq: DeadLetterGroups;
  health: Health | null;
}

/** Throughput, failures by code, queue levels, running jobs and circuits, refreshed every 2 s. */
export function OverviewPage() {
  const me = useSession();
  const history = useRef<number[]>([]);
  const tenant = me.viewTenant || undefined;
  const data = usePolling<Snapshot>(
    async () => {
      const [stats, queues, dlq, health] = await Promise.all([
        api.json<StatsView>('GET', '/stats', { query: { tenant } }),
        api.json<QueueList>('GET', '/queues'),
        api.json<DeadLetterGroups>('GET', '/dlq/groups'),
        api.json<Health>('GET', '/health').catch(() => null),
      ]);
      history.current = [...history.current.slice(1 - SAMPLES), stats.throughput.completedPerMinute];
      return { stats, queues, dlq, health };
    },
    2000,
    [tenant],
  );
  const value = data.value;
  const byCode = new Map<string, number>();
  for (const g of value?.dlq.items ?? [])
    byCode.set(g.errorCode ?? '—', (byCode.get(g.errorCode ?? '—') ?? 0) + g.count);
  const counts = value?.stats.counts.byStatus ?? {};
  return (
    <Page title="Overview">
      <ErrorNote error={data.error} />
      <div className="cards">
        <article className="card" aria-labelledby="tp">
          <h2 id="tp">Throughput</h2>
          <p className="big">{value ? value.stats.throughput.completedPerMinute.toFixed(1) : '—'} / min</p>
          <Sparkline values={history.current} label="completed per minute, last two minutes" />
          <p>
            submitted last minute: {value?.stats.throughput.submittedLastMinute ?? '—'} · p50{' '}
            {formatMs(value?.stats.durationMs.p50)} · p99 {formatMs(value?.stats.durationMs.p99)}
          </p>
        </article>
        <article className="card" aria-labelledby="run">
          <h2 id="run">Jobs now</h2>
          <dl className="facts">
            {['running', 'queued', 'retrying', 'scheduled', 'waiting', 'failed'].map((s) => (
              <div key={s}>
                <dt>{s}</dt>
                <dd>{counts[s] ?? 0}</dd>
              </div>
            ))}
          </dl>
        </article>
        <article className="card" aria-labelledby="fail">
          <h2 id="fail">Failures by code</h2>
          <p>failed in the last 5 minutes: {value?.stats.throughput.failedLast5Minutes ?? '—'}</p>
          <ul>
            {[...byCode].map(([code, n]) => (
              <li key={code}>
                <span className="mono">{code}</span>: {n} dead-lettered
              </li>
            ))}
          </ul>
        </article>
        <article className="card" aria-labelledby="circ">
          <h2 id="circ">Circuits and health</h2>
          <p>
            {value?.health ? (
              <>
                {value.health.status} · circuits {value.health.checks.circuits.status}
                {value.health.checks.circuits.detail ? ` (${value.health.checks.circuits.detail})` : ''}
              </>
            ) : (
              '—'
            )}
          </p>
        </article>
      </div>
      <h2>Queue levels</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Queue</th>
            <th scope="col">Level</th>
            <th scope="col">Backlog</th>
            <th scope="col">Running</th>
            <th scope="col">Consumers</th>
            <th scope="col">Est. wait</th>
          </tr>
        </thead>
        <tbody>
          {(value?.queues.items ?? []).map((q) => (
            <tr key={q.queue}>
              <td>{q.queue}</td>
              <td>
                <span className={`level level-${q.level}`}>{q.level}</span>
              </td>
              <td>{q.backlog + q.released}</td>
              <td>{q.running}</td>
              <td>{q.consumers}</td>
              <td>{formatMs(q.estimatedWaitMs)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Page>
  );
}
