import { useCallback, useEffect, useState } from 'react';
import type { JobDetail, JobHistoryEntry, JobLogPage } from '@switchyard/contracts';
import { api, errorText, eventData, JOB_EVENTS, stream } from '../api';
import { Link } from '../router';
import { useSession } from '../session';
import { ErrorNote, formatTime, JsonView, Page, ProgressBar, Status, usePolling } from '../ui';

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

/** One job: live progress and steps over SSE (the session cookie), payload/result, history, artifact. */
export function JobDetailPage({ id }: { id: string }) {
  const me = useSession();
  const [job, setJob] = useState<JobDetail | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [live, setLive] = useState<JobHistoryEntry[]>([]);

  const load = useCallback(async () => {
    try {
      setJob((await api.json<JobDetail>('GET', `/jobs/${encodeURIComponent(id)}`)) ?? null);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [id]);

  useEffect(() => {
    setJob(null);
    setLive([]);
    void load();
  }, [load]);

  // Follow the job until its terminal event (EventSource would reconnect after the stream closes).
  // Opened once the first GET has answered, so that its (older) answer never overwrites the stream's.
  const loaded = job !== null;
  const terminal = loaded && TERMINAL.has(job.status);
  useEffect(() => {
    if (!loaded || terminal) return;
    const source = stream(`/jobs/${encodeURIComponent(id)}/events`);
    source.addEventListener('snapshot', (event: MessageEvent<string>) => {
      const snapshot = JSON.parse(event.data) as Partial<JobDetail>;
      setJob((current) => (current ? { ...current, ...snapshot, history: current.history } : current));
    });
    const onEvent = (event: MessageEvent<string>) => {
      const data = eventData(event);
      if (!data) return;
      setJob(
        (current) =>
          current && {
            ...current,
            status: data.status as JobDetail['status'],
            step: data.step,
            progress: data.progress,
            message: data.message,
            attempts: Math.max(current.attempts, data.attempt),
          },
      );
      setLive((entries) => [
        ...entries.slice(-199),
        {
          seq: data.seq,
          event: event.type.replace(/^job\./, '') as JobHistoryEntry['event'],
          status: data.status as JobHistoryEntry['status'],
          step: data.step,
          progress: data.progress,
          message: data.message,
          attempt: data.attempt,
          at: new Date().toISOString(),
        },
      ]);
      if (TERMINAL.has(data.status)) {
        source.close();
        void load();
      }
    };
    for (const name of JOB_EVENTS) source.addEventListener(name, onEvent);
    return () => source.close();
  }, [id, loaded, terminal, load]);

  const act = async (label: string, method: string, route: string) => {
    setNotice(null);
    try {
      await api.json(method, route);
      setNotice(`${label}: requested`);
      await load();
    } catch (e) {
      setNotice(`${label}: ${errorText(e)}`);
    }
  };

  if (!job) {
    return (
      <Page title="Job">
        <ErrorNote error={error} />
        {!error && <p className="loading">Loading…</p>}
      </Page>
    );
  }
  const known = new Set(job.history.map((h) => h.seq));
  const timeline = [...job.history, ...live.filter((h) => !known.has(h.seq))].sort((a, b) => a.seq - b.seq);
  const path = `/jobs/${encodeURIComponent(job.id)}`;
  return (
    <Page
      title={`Job ${job.id.slice(0, 8)}`}
      actions={
        me.canWrite && (
          <>
            {!TERMINAL.has(job.status) && (
              <button
                type="button"
                className="danger"
                onClick={() => void act('Cancel', 'POST', `${path}/cancel`)}
              >
                Cancel job
              </button>
            )}
            {(job.status === 'failed' || job.status === 'cancelled') && (
              <button type="button" onClick={() => void act('Retry', 'POST', `${path}/retry`)}>
                Retry job
              </button>
            )}
            {job.deadLettered && (
              <button type="button" onClick={() => void act('Replay', 'POST', `/dlq/${job.id}/replay`)}>
                Replay from dead letters
              </button>
            )}
          </>
        )
      }
    >
      <p role="status" className="notice">
        {notice}
      </p>
      <dl className="facts">
        <dt>Id</dt>
        <dd className="mono">{job.id}</dd>
        <dt>Status</dt>
        <dd>
          <Status status={job.status} />
          {job.cancelRequested && !TERMINAL.has(job.status) && ' (cancel requested)'}
        </dd>
        <dt>Type</dt>
        <dd>{job.type}</dd>
        <dt>Queue</dt>
        <dd>{job.queue}</dd>
        <dt>Tenant</dt>
        <dd>{job.tenant}</dd>
        <dt>Priority</dt>
        <dd>{job.priority}</dd>
        <dt>Attempts</dt>
        <dd>
          {job.attempts} of {job.maxAttempts}
        </dd>
        <dt>Created</dt>
        <dd>{formatTime(job.createdAt)}</dd>
        <dt>Finished</dt>
        <dd>{formatTime(job.finishedAt)}</dd>
        {job.traceId && me.traceUrl && (
          <>
            <dt>Trace</dt>
            <dd>
              <a
                className="mono"
                href={me.traceUrl.replace('{traceId}', job.traceId)}
                target="_blank"
                rel="noreferrer"
              >
                {job.traceId}
              </a>
            </dd>
          </>
        )}
        {job.flowId && (
          <>
            <dt>Flow</dt>
            <dd>
              <Link to={`/flows/${job.flowId}`}>{job.ref ?? job.flowId}</Link>
            </dd>
          </>
        )}
      </dl>
      <h2>Progress</h2>
      <ProgressBar value={job.progress} label="job progress" />
      <p className="step">
        Step: <span data-testid="step">{job.step ?? '—'}</span> {job.message && `— ${job.message}`}
      </p>
      {job.error && (
        <div className="error-box" role="note" aria-label="last error">
          <strong>{job.error.code}</strong>: {job.error.message} {job.error.retryable ? '(retryable)' : ''}
        </div>
      )}
      <h2>Timeline</h2>
      <ol className="timeline" aria-label="step timeline">
        {timeline.map((h) => (
          <li key={h.seq}>
            <span className="mono">{formatTime(h.at)}</span> <Status status={h.status} /> {h.step ?? ''}{' '}
            {Math.round(h.progress)} % {h.attempt ? `· attempt ${h.attempt}` : ''} {h.message ?? ''}
          </li>
        ))}
      </ol>
      <Logs id={job.id} status={job.status} />
      <JsonView title="Payload" value={job.payload} />
      <JsonView title="Metadata" value={job.metadata} open={false} />
      {job.status === 'completed' && <Artifact job={job} />}
    </Page>
  );
}

/** The result: inline JSON, or the artifact with a preview by content type and a download link. */
function Artifact({ job }: { job: JobDetail }) {
  const url = `/api/v1/jobs/${encodeURIComponent(job.id)}/result`;
  const [type, setType] = useState<string | null>(null);
  const [text, setText] = useState<string | null>(null);
  useEffect(() => {
    if (!job.resultUrl) return;
    let stopped = false;
    void fetch(url, { method: 'HEAD' }).then((response) => {
      const contentType = response.headers.get('content-type') ?? 'application/octet-stream';
      if (stopped) return;
      setType(contentType);
      if (/json|text/.test(contentType)) {
        void fetch(url)
          .then((r) => r.text())
          .then((body) => !stopped && setText(body.slice(0, 100000)));
      }
    });
    return () => {
      stopped = true;
    };
  }, [job.resultUrl, url]);
  if (!job.resultUrl) return <JsonView title="Result" value={job.result} />;
  return (
    <section aria-labelledby="artifact-title">
      <h2 id="artifact-title">Artifact</h2>
      <p>
        {type ?? '…'}{' '}
        <a href={url} download={`${job.id}`}>
          Download result
        </a>
      </p>
      {type?.startsWith('audio/') && (
        <audio controls preload="metadata" src={url} aria-label="result audio">
          <track kind="captions" />
        </audio>
      )}
      {type?.startsWith('image/') && <img src={url} alt={`result of job ${job.id}`} className="preview" />}
      {text !== null && (
        <pre className="preview" tabIndex={0}>
          {text}
        </pre>
      )}
    </section>
  );
}

/** The handler's log lines (`ctx.log`), loaded again whenever the status changes. */
function Logs({ id, status }: { id: string; status: string }) {
  const logs = usePolling(
    () => api.json<JobLogPage>('GET', `/jobs/${encodeURIComponent(id)}/logs`, { query: { limit: 200 } }),
    0,
    [id, status],
  );
  const lines = logs.value?.items ?? [];
  return (
    <details className="json" open={lines.length > 0}>
      <summary>Logs ({lines.length})</summary>
      <pre tabIndex={0}>
        {lines.length === 0
          ? 'no log lines'
          : lines
              .map((l) => `${formatTime(l.at)} #${l.attempt} ${l.level.padEnd(5)} ${l.message}`)
              .join('\n')}
      </pre>
    </details>
  );
}
