import { useState } from 'react';
import type { SchedulePage } from '@switchyard/contracts';
import { api, errorText } from '../api';
import { useSession } from '../session';
import { ErrorNote, formatMs, formatTime, Page, RowButton, usePolling } from '../ui';

/** Schedules: next runs, pause/resume/trigger. */
export function SchedulesPage() {
  const me = useSession();
  const schedules = usePolling(
    () => api.json<SchedulePage>('GET', '/schedules', { query: { limit: 200 } }),
    5000,
  );
  const [notice, setNotice] = useState<string | null>(null);
  const act = async (id: string, name: string, action: 'pause' | 'resume' | 'trigger') => {
    try {
      await api.json('POST', `/schedules/${id}/${action}`);
      setNotice(`${name}: ${action} done`);
    } catch (e) {
      setNotice(errorText(e));
    }
    schedules.reload();
  };
  return (
    <Page title="Schedules">
      <p role="status" className="notice">
        {notice}
      </p>
      <ErrorNote error={schedules.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Every</th>
            <th scope="col">Job type</th>
            <th scope="col">Next run</th>
            <th scope="col">Last run</th>
            <th scope="col">State</th>
            {me.canWrite && <th scope="col">Actions</th>}
          </tr>
        </thead>
        <tbody>
          {(schedules.value?.items ?? []).map((s) => (
            <tr key={s.id}>
              <td>{s.name}</td>
              <td className="mono">{s.cron ?? formatMs(s.everyMs)}</td>
              <td>{s.job.type}</td>
              <td>{formatTime(s.nextRunAt)}</td>
              <td>{formatTime(s.lastRunAt)}</td>
              <td>{s.paused ? 'paused' : 'active'}</td>
              {me.canWrite && (
                <td className="actions">
                  <RowButton
                    label={s.paused ? 'Resume' : 'Pause'}
                    subject={s.name}
                    onClick={() => void act(s.id, s.name, s.paused ? 'resume' : 'pause')}
                  />
                  <RowButton
                    label="Run now"
                    subject={s.name}
                    onClick={() => void act(s.id, s.name, 'trigger')}
                  />
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {schedules.value && schedules.value.items.length === 0 && <p>No schedules.</p>}
    </Page>
  );
}
