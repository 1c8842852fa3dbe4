import { useState } from 'react';
import type { QueueList } from '@switchyard/contracts';
import { api, errorText } from '../api';
import { useSession } from '../session';
import { ErrorNote, formatMs, Page, RowButton, usePolling } from '../ui';

/** Queues: backlog, released, running, rates, paused state with pause/resume (admin). */
export function QueuesPage() {
  const me = useSession();
  const queues = usePolling(() => api.json<QueueList>('GET', '/queues'), 2000);
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
    </Page>
  );
}
