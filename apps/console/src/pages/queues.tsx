import { useState } from 'react';
import type { LimitList, QueueList } from '@switchyard/contracts';
import { api, errorText } from '../api';
import { useSession } from '../session';
import { ErrorNote, formatMs, Page, RowButton, usePolling } from '../ui';

/** Queues: backlog, released, running, rates, paused state with pause/resume (admin). */
export function QueuesPage() {
  const me = useSession();
  const queues = usePolling(() => api.json<QueueList>('GET', '/queues'), 2000);
  const limits = usePolling(() => api.json<LimitList>('GET', '/limits'), 2000);
  const [notice, setNotice] = useState<string | null>(null);
  const toggle = async (name: string, paused: boolean) => {
    try {
      await api.json('POST', `/queues/${encodeURIComponent(name)}/${paused ? 'resume' : 'pause'}`);
      setNotice(`${name} ${paused ? 'resumed' : 'paused'}`);
    } catch (e) {
      setNotice(errorText(e));
    }
    queues.reload();
  };
  return (
    <Page title="Queues">
      <p role="status" className="notice">
        {notice}
      </p>
      <ErrorNote error={queues.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Queue</th>
            <th scope="col">Backlog</th>
            <th scope="col">Released</th>
            <th scope="col">Scheduled</th>
            <th scope="col">Running</th>
            <th scope="col">Done / min</th>
            <th scope="col">Oldest</th>
            <th scope="col">Level</th>
            <th scope="col">State</th>
          </tr>
        </thead>
        <tbody>
          {(queues.value?.items ?? []).map((q) => (
            <tr key={q.queue}>
              <td>{q.queue}</td>
              <td>{q.backlog}</td>
              <td>{q.released}</td>
              <td>{q.scheduled}</td>
              <td>{q.running}</td>
              <td>{q.completedPerMinute.toFixed(1)}</td>
              <td>{formatMs(q.oldestAgeMs)}</td>
              <td>
                <span className={`level level-${q.level}`}>{q.level}</span>
              </td>
              <td>
                {q.paused ? 'paused' : 'running'}{' '}
                {me.admin && (
                  <RowButton
                    label={q.paused ? 'Resume' : 'Pause'}
                    subject={q.queue}
                    onClick={() => void toggle(q.queue, q.paused)}
                  />
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Concurrency limits</h2>
      <ErrorNote error={limits.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Key</th>
            <th scope="col">Limit</th>
            <th scope="col">In use</th>
            <th scope="col">Waiting</th>
          </tr>
        </thead>
        <tbody>
          {(limits.value?.concurrency ?? []).map((l) => (
            <tr key={l.key}>
              <td className="mono">{l.key}</td>
              <td>{l.max ?? 'none'}</td>
              <td>{l.inUse}</td>
              <td>{l.waiting}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {limits.value && limits.value.concurrency.length === 0 && <p>No concurrency keys in use.</p>}
    </Page>
  );
}
