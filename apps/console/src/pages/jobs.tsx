import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { JobSummary, JobSummaryPage } from '@switchyard/contracts';
import { api, eventData, JOB_EVENTS, stream } from '../api';
import { Link, navigate, useLocation } from '../router';
import { useSession } from '../session';
import { ErrorNote, field, formatTime, Page, ProgressBar, Status } from '../ui';

const STATUSES = [
  '',
  'scheduled',
  'waiting',
  'queued',
  'running',
  'retrying',
  'completed',
  'failed',
  'cancelled',
];
const FILTERS = [
  'status',
  'type',
  'queue',
  'createdAfter',
  'createdBefore',
  'idempotencyKey',
  'metadata',
] as const;
const PAGE_SIZE = 50;

/** Jobs: server-side filters kept in the query string (shareable), cursor paging, live rows. */
export function JobsPage() {
  const { query } = useLocation();
  const me = useSession();
  const [page, setPage] = useState<JobSummaryPage | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [reloads, setReloads] = useState(0);
  const key = query.toString();
  const cursor = query.get('cursor') ?? undefined;

  useEffect(() => {
    let stopped = false;
    const params: Record<string, string | number | undefined> = { limit: PAGE_SIZE, cursor };
    for (const name of FILTERS) {
      const value = query.get(name);
      if (value) params[name] = name.startsWith('created') ? new Date(value).toISOString() : value;
    }
    if (me.viewTenant) params['tenant'] = me.viewTenant;
    api.json<JobSummaryPage>('GET', '/jobs', { query: params }).then(
      (next) => {
        if (stopped) return;
        setPage(next);
        setError(null);
      },
      (e: unknown) => !stopped && setError(e),
    );
    return () => {
      stopped = true;
    };
    // The query string is the state: `key` stands for it.
  }, [key, me.viewTenant, reloads]);

  // Live: each event updates its row; a new job on the first page reloads it (at most once a second).
  const pageRef = useRef(page);
  pageRef.current = page;
  useEffect(() => {
    const source = stream('/events', {
      type: query.get('type') ?? undefined,
      queue: query.get('queue') ?? undefined,
    });
    let reloadTimer: ReturnType<typeof setTimeout> | undefined;
    const onEvent = (event: MessageEvent<string>) => {
      const data = eventData(event);
      if (!data) return;
      const rows = pageRef.current?.items ?? [];
      if (rows.some((r) => r.id === data.jobId)) {
        setPage(
          (current) =>
            current && {
              ...current,
              items: current.items.map((r) =>
                r.id === data.jobId
                  ? ({ ...r, status: data.status, step: data.step, progress: data.progress } as JobSummary)
                  : r,
              ),
            },
        );
      } else if (!cursor && !reloadTimer) {
        reloadTimer = setTimeout(() => {
          reloadTimer = undefined;
          setReloads((n) => n + 1);
        }, 1000);
      }
    };
    for (const name of JOB_EVENTS) source.addEventListener(name, onEvent);
    return () => {
      source.close();
      if (reloadTimer) clearTimeout(reloadTimer);
    };
  }, [key, cursor]);

  const apply = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const id = field(form, 'id');
    if (id) {
      navigate(`/jobs/${encodeURIComponent(id)}`);
      return;
    }
    const next = new URLSearchParams();
    for (const name of FILTERS) {
      const value = field(form, name);
      if (value) next.set(name, value);
    }
    navigate(`/jobs${next.size ? `?${next.toString()}` : ''}`);
  };
  const pageLink = (nextCursor: string | null) => {
    const next = new URLSearchParams(query);
    if (nextCursor) next.set('cursor', nextCursor);
    else next.delete('cursor');
    return `/jobs?${next.toString()}`;
  };

  return (
    <Page title="Jobs">
      <form className="filters" onSubmit={apply} key={key} aria-label="Job filters">
        <label>
          Status
          <select name="status" defaultValue={query.get('status') ?? ''}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s || 'any'}
              </option>
            ))}
          </select>
        </label>
        <label>
          Type <input name="type" defaultValue={query.get('type') ?? ''} />
        </label>
        <label>
          Queue <input name="queue" defaultValue={query.get('queue') ?? ''} />
        </label>
        <label>
          Created after{' '}
          <input name="createdAfter" type="datetime-local" defaultValue={query.get('createdAfter') ?? ''} />
        </label>
        <label>
          Created before{' '}
          <input name="createdBefore" type="datetime-local" defaultValue={query.get('createdBefore') ?? ''} />
        </label>
        <label>
          Idempotency key <input name="idempotencyKey" defaultValue={query.get('idempotencyKey') ?? ''} />
        </label>
        <label>
          Metadata{' '}
          <input
            name="metadata"
            placeholder="key=value"
            pattern="[^=]+=.*"
            defaultValue={query.get('metadata') ?? ''}
          />
        </label>
        <label>
          Job id <input name="id" placeholder="go to a job" />
        </label>
        <button type="submit">Apply</button>
      </form>
      <ErrorNote error={error} />
      <table className="jobs">
        <caption className="sr-only">Jobs, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Job</th>
            <th scope="col">Type</th>
            <th scope="col">Queue</th>
            {me.admin && <th scope="col">Tenant</th>}
            <th scope="col">Status</th>
            <th scope="col">Progress</th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {(page?.items ?? []).map((job) => (
            <tr key={job.id} data-job={job.id}>
              <td>
                <Link to={`/jobs/${job.id}`} className="mono">
                  {job.id.slice(0, 8)}
                </Link>
              </td>
              <td>{job.type}</td>
              <td>{job.queue}</td>
              {me.admin && <td>{job.tenant}</td>}
              <td>
                <Status status={job.status} />
              </td>
              <td>
                <ProgressBar value={job.progress} label={`progress of ${job.id.slice(0, 8)}`} />
              </td>
              <td>{formatTime(job.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {page && page.items.length === 0 && <p>No jobs match.</p>}
      <nav className="pager" aria-label="Pages">
        {cursor && <Link to={pageLink(null)}>First page</Link>}
        {page?.nextCursor && <Link to={pageLink(page.nextCursor)}>Next page</Link>}
      </nav>
    </Page>
  );
}
