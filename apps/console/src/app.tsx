import { useCallback, useEffect, useMemo, useState, type FormEvent } from 'react';
import type { Session } from '@switchyard/contracts';
import { errorText, session as sessions, SIGNED_OUT_EVENT } from './api';
import { DeadLettersPage } from './pages/dead-letters';
import { FlowsPage } from './pages/flows';
import { JobDetailPage } from './pages/job-detail';
import { JobsPage } from './pages/jobs';
import { OverviewPage } from './pages/overview';
import { QueuesPage } from './pages/queues';
import { SchedulesPage } from './pages/schedules';
import { SettingsPage } from './pages/settings';
import { WebhooksPage } from './pages/webhooks';
import { Link, useLocation } from './router';
import { SessionContext, useSession, type ConsoleSession } from './session';

const NAV = [
  { to: '/', label: 'Overview' },
  { to: '/jobs', label: 'Jobs' },
  { to: '/dead-letters', label: 'Dead letters' },
  { to: '/queues', label: 'Queues' },
  { to: '/schedules', label: 'Schedules' },
  { to: '/flows', label: 'Flows' },
  { to: '/webhooks', label: 'Webhooks' },
  { to: '/settings', label: 'Settings', admin: true },
];
const TENANT_KEY = 'switchyard.console.tenant';

export function App() {
  const [current, setCurrent] = useState<Session | null | undefined>(undefined);
  const [viewTenant, setViewTenantState] = useState(() => localStorage.getItem(TENANT_KEY) ?? '');
  useEffect(() => {
    sessions.current().then(
      (signedIn) => setCurrent(signedIn ?? null),
      () => setCurrent(null),
    );
  }, []);
  // A 401 anywhere (expired session, revoked key) brings the sign-in back.
  useEffect(() => {
    const onSignedOut = () => setCurrent(null);
    window.addEventListener(SIGNED_OUT_EVENT, onSignedOut);
    return () => window.removeEventListener(SIGNED_OUT_EVENT, onSignedOut);
  }, []);
  const setViewTenant = useCallback((tenant: string) => {
    localStorage.setItem(TENANT_KEY, tenant);
    setViewTenantState(tenant);
  }, []);
  const value = useMemo<ConsoleSession | null>(
    () =>
      current
        ? {
            ...current,
            canWrite: current.admin || current.scopes.includes('jobs:write'),
            viewTenant: current.admin ? viewTenant : '',
            setViewTenant,
          }
        : null,
    [current, viewTenant, setViewTenant],
  );
  if (current === undefined) return <p className="loading">Loading…</p>;
  if (!value) return <SignIn onSignedIn={setCurrent} />;
  return (
    <SessionContext.Provider value={value}>
      <Shell onSignedOut={() => setCurrent(null)} />
    </SessionContext.Provider>
  );
}

function SignIn({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await sessions.signIn(key.trim()));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="sign-in">
      <h1>Switchyard console</h1>
      <form onSubmit={(e) => void submit(e)}>
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          name="apiKey"
          type="password"
          autoComplete="off"
          required
          value={key}
          onChange={(e) => setKey(e.target.value)}
        />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <p className="hint">The key is exchanged for a session cookie; the page never stores it.</p>
      </form>
    </main>
  );
}

function Shell({ onSignedOut }: { onSignedOut: () => void }) {
  const { path } = useLocation();
  const me = useSession();
  const signOut = async () => {
    await sessions.signOut().catch(() => undefined);
    onSignedOut();
  };
  const active = (to: string) => (to === '/' ? path === '/' : path === to || path.startsWith(`${to}/`));
  return (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">Switchyard</span>
        <nav aria-label="Console">
          <ul>
            {NAV.filter((n) => !n.admin || me.admin).map((n) => (
              <li key={n.to}>
                <Link to={n.to} aria-current={active(n.to) ? 'page' : undefined}>
                  {n.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="who">
          {me.admin && (
            <label>
              Tenant{' '}
              <input
                className="tenant"
                value={me.viewTenant}
                placeholder="all"
                onChange={(e) => me.setViewTenant(e.target.value.trim())}
              />
            </label>
          )}
          <span>
            {me.tenant} · {me.admin ? 'admin' : me.canWrite ? 'read/write' : 'read-only'}
          </span>
          <button type="button" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main">
        <Route path={path} />
      </main>
    </div>
  );
}

function Route({ path }: { path: string }) {
  const job = /^\/jobs\/([^/]+)$/.exec(path);
  if (job?.[1]) return <JobDetailPage id={decodeURIComponent(job[1])} />;
  const flow = /^\/flows\/([^/]+)$/.exec(path);
  if (flow?.[1]) return <FlowsPage id={decodeURIComponent(flow[1])} />;
  switch (path) {
    case '/':
      return <OverviewPage />;
    case '/jobs':
      return <JobsPage />;
    case '/dead-letters':
      return <DeadLettersPage />;
    case '/queues':
      return <QueuesPage />;
    case '/schedules':
      return <SchedulesPage />;
    case '/flows':
      return <FlowsPage />;
    case '/webhooks':
      return <WebhooksPage />;
    case '/settings':
      return <SettingsPage />;
    default:
      return (
        <p>
          Nothing here. <Link to="/">Overview</Link>
        </p>
      );
  }
}
