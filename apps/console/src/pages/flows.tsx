import type { FlowJobView, FlowPage, FlowView } from '@switchyard/contracts';
import { api } from '../api';
import { Link, navigate } from '../router';
import { ErrorNote, formatTime, Page, Status, usePolling } from '../ui';

const NODE_W = 150;
const NODE_H = 44;
const GAP_X = 60;
const GAP_Y = 18;

/** Flows: the list, or one flow's DAG as SVG with each node's state (refreshed every 1.5 s). */
export function FlowsPage({ id }: { id?: string }) {
  return id ? <FlowDetail id={id} /> : <FlowList />;
}

function FlowList() {
  const flows = usePolling(() => api.json<FlowPage>('GET', '/flows', { query: { limit: 100 } }), 5000);
  return (
    <Page title="Flows">
      <ErrorNote error={flows.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Flow</th>
            <th scope="col">Status</th>
            <th scope="col">Jobs</th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {(flows.value?.items ?? []).map((f) => (
            <tr key={f.id}>
              <td>
                <Link to={`/flows/${f.id}`}>{f.name ?? f.id.slice(0, 8)}</Link>
              </td>
              <td>
                <Status status={f.status} />
              </td>
              <td>{f.total}</td>
              <td>{formatTime(f.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {flows.value && flows.value.items.length === 0 && <p>No flows.</p>}
    </Page>
  );
}

/** Column of each job: 0 for roots, else one more than its deepest dependency (jobs come dependencies first). */
function layout(jobs: FlowJobView[]) {
  const depth = new Map<string, number>();
  for (const job of jobs) {
    depth.set(job.ref, Math.max(-1, ...job.dependsOn.map((d) => depth.get(d) ?? 0)) + 1);
  }
  const rows = new Map<number, number>();
  const positions = new Map<string, { x: number; y: number }>();
  for (const job of jobs) {
    const column = depth.get(job.ref) ?? 0;
    const row = rows.get(column) ?? 0;
    rows.set(column, row + 1);
    positions.set(job.ref, { x: 10 + column * (NODE_W + GAP_X), y: 10 + row * (NODE_H + GAP_Y) });
  }
  const columns = Math.max(1, ...[...depth.values()].map((d) => d + 1));
  const height = Math.max(1, ...rows.values());
  return { positions, width: 20 + columns * (NODE_W + GAP_X), height: 20 + height * (NODE_H + GAP_Y) };
}

function FlowDetail({ id }: { id: string }) {
  const flow = usePolling(() => api.json<FlowView>('GET', `/flows/${encodeURIComponent(id)}`), 1500, [id]);
  const value = flow.value;
  const { positions, width, height } = layout(value?.jobs ?? []);
  return (
    <Page title={`Flow ${value?.name ?? id.slice(0, 8)}`}>
      <ErrorNote error={flow.error} />
      {value && (
        <>
          <p>
            <Status status={value.status} /> · {value.total} jobs · created {formatTime(value.createdAt)}
          </p>
          <svg className="dag" width={width} height={height} role="group" aria-label="flow graph">
            {value.jobs.flatMap((job) =>
              job.dependsOn.map((dep) => {
                const from = positions.get(dep);
                const to = positions.get(job.ref);
                if (!from || !to) return null;
                return (
                  <line
                    key={`${dep}->${job.ref}`}
                    x1={from.x + NODE_W}
                    y1={from.y + NODE_H / 2}
                    x2={to.x}
                    y2={to.y + NODE_H / 2}
                    className="edge"
                  />
                );
              }),
            )}
            {value.jobs.map((job) => {
              const at = positions.get(job.ref);
              if (!at) return null;
              return (
                <g
                  key={job.id}
                  className={`node node-${job.status}`}
                  transform={`translate(${at.x},${at.y})`}
                  role="link"
                  tabIndex={0}
                  onClick={() => navigate(`/jobs/${job.id}`)}
                  onKeyDown={(e) => e.key === 'Enter' && navigate(`/jobs/${job.id}`)}
                >
                  <rect width={NODE_W} height={NODE_H} rx="6" />
                  <text x="8" y="18">
                    {job.ref.slice(0, 18)}
                  </text>
                  <text x="8" y="35" className="sub">
                    {job.status} {job.status === 'running' ? `${Math.round(job.progress)} %` : ''}
                  </text>
                </g>
              );
            })}
          </svg>
        </>
      )}
    </Page>
  );
}
