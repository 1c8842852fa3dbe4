import { useState } from 'react';
import type { DeadLetterGroups, JobPage } from '@switchyard/contracts';
import { api, errorText } from '../api';
import { Link } from '../router';
import { useSession } from '../session';
import { Confirm, ErrorNote, formatTime, Page, usePolling } from '../ui';

type Group = DeadLetterGroups['items'][number];
interface Pending {
  action: 'replay' | 'discard';
  group: Group;
}
/** POST /dlq/replay and /dlq/discard take at most this many jobs per call. */
const BULK_MAX = 100;

/** Dead letters grouped by type and error code; bulk replay/discard of a group after a confirmation. */
export function DeadLettersPage() {
  const me = useSession();
  const groups = usePolling(() => api.json<DeadLetterGroups>('GET', '/dlq/groups'), 5000);
  const [pending, setPending] = useState<Pending | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const runBulk = async ({ action, group }: Pending) => {
    setPending(null);
    let done = 0;
    try {
      // Group by group, at most BULK_MAX per call, until the group is empty or nothing moved.
      for (;;) {
        const answer = await api.json<{ replayed?: number; discarded?: number }>('POST', `/dlq/${action}`, {
          body: { type: group.type, errorCode: group.errorCode ?? undefined, limit: BULK_MAX },
        });
        const moved = answer.replayed ?? answer.discarded ?? 0;
        done += moved;
        if (moved < BULK_MAX || done >= group.count) break;
      }
      setNotice(`${action === 'replay' ? 'Replayed' : 'Discarded'} ${done} job${done === 1 ? '' : 's'}`);
    } catch (e) {
      setNotice(`${action} stopped after ${done}: ${errorText(e)}`);
    }
    groups.reload();
  };

  const items = groups.value?.items ?? [];
  return (
    <Page title="Dead letters">
      <p role="status" className="notice">
        {notice}
      </p>
      <ErrorNote error={groups.error} />
      <table>
        <caption className="sr-only">Dead-lettered jobs by type and error code</caption>
        <thead>
          <tr>
            <th scope="col">Type</th>
            <th scope="col">Error code</th>
            <th scope="col">Jobs</th>
            <th scope="col">Last failure</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {items.map((group) => {
            const key = `${group.type}\u0000${group.errorCode ?? ''}`;
            const name = `${group.type} ${group.errorCode ?? '(no code)'}`;
            return (
              <tr key={key} data-group={`${group.type}:${group.errorCode ?? ''}`}>
                <td>{group.type}</td>
                <td className="mono">{group.errorCode ?? '—'}</td>
                <td className="count">{group.count}</td>
                <td>{formatTime(group.lastFailedAt)}</td>
                <td className="actions">
                  <button
                    type="button"
                    onClick={() => setOpen(open === key ? null : key)}
                    aria-expanded={open === key}
                  >
                    {open === key ? 'Hide jobs' : 'Show jobs'}
                    <span className="sr-only"> of {name}</span>
                  </button>
                  {me.canWrite && group.errorCode !== null && (
                    <>
                      <button type="button" onClick={() => setPending({ action: 'replay', group })}>
                        Replay group<span className="sr-only"> {name}</span>
                      </button>
                      <button
                        type="button"
                        className="danger"
                        onClick={() => setPending({ action: 'discard', group })}
                      >
                        Discard group<span className="sr-only"> {name}</span>
                      </button>
                    </>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {groups.value && items.length === 0 && <p>No dead-lettered jobs.</p>}
      {items
        .filter((g) => `${g.type}\u0000${g.errorCode ?? ''}` === open)
        .map((g) => (
          <GroupJobs key={open} group={g} onChange={groups.reload} />
        ))}
      <Confirm
        open={pending !== null}
        title={
          pending ? `${pending.action === 'replay' ? 'Replay' : 'Discard'} ${pending.group.count} jobs?` : ''
        }
        confirmLabel={pending?.action === 'replay' ? 'Replay them' : 'Discard them'}
        onConfirm={() => pending && void runBulk(pending)}
        onCancel={() => setPending(null)}
      >
        {pending && (
          <p>
            {pending.action === 'replay' ? 'Put back to work' : 'Delete for good'}{' '}
            <strong data-testid="confirm-count">{pending.group.count}</strong> dead-lettered{' '}
            <code>{pending.group.type}</code> jobs that failed with <code>{pending.group.errorCode}</code>.
          </p>
        )}
      </Confirm>
    </Page>
  );
}

function GroupJobs({ group, onChange }: { group: Group; onChange: () => void }) {
  const me = useSession();
  const jobs = usePolling(
    () =>
      api.json<JobPage>('GET', '/dlq', {
        query: { type: group.type, errorCode: group.errorCode ?? undefined, limit: 50 },
      }),
    0,
  );
  const [notice, setNotice] = useState<string | null>(null);
  const one = async (method: string, route: string, label: string) => {
    try {
      await api.json(method, route);
      setNotice(label);
    } catch (e) {
      setNotice(errorText(e));
    }
    jobs.reload();
    onChange();
  };
  return (
    <section aria-label={`jobs of ${group.type} ${group.errorCode ?? ''}`}>
      <h2>
        {group.type} · {group.errorCode ?? 'no code'}
      </h2>
      <p role="status" className="notice">
        {notice}
      </p>
      <ul className="dlq-jobs">
        {(jobs.value?.items ?? []).map((job) => (
          <li key={job.id}>
            <Link to={`/jobs/${job.id}`} className="mono">
              {job.id.slice(0, 8)}
            </Link>{' '}
            {job.error?.message ?? ''} · {formatTime(job.finishedAt)}
            {me.canWrite && (
              <>
                {' '}
                <button type="button" onClick={() => void one('POST', `/dlq/${job.id}/replay`, 'replayed')}>
                  Replay<span className="sr-only"> job {job.id}</span>
                </button>
                <button type="button" onClick={() => void one('DELETE', `/dlq/${job.id}`, 'discarded')}>
                  Discard<span className="sr-only"> job {job.id}</span>
                </button>
              </>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
