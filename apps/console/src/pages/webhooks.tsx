import { useState, type FormEvent } from 'react';
import type {
  WebhookDeliveryPage,
  WebhookEndpointCreated,
  WebhookEndpointList,
  WebhookEndpointView,
  WebhookEventType,
} from '@switchyard/contracts';
import { api, errorText } from '../api';
import { Link } from '../router';
import { useSession } from '../session';
import { Confirm, ErrorNote, field, formatTime, Page, RowButton, Status, usePolling } from '../ui';

const EVENT_TYPES = [
  'switchyard.job.completed',
  'switchyard.job.failed',
  'switchyard.job.cancelled',
] as const satisfies readonly WebhookEventType[];
/** `switchyard.job.completed` → `job.completed`. */
const short = (type: string) => type.replace(/^switchyard\./, '');

/**
 * Webhooks: the tenant's endpoints (create with the secret shown once, enable/disable, rotate the
 * secret, delete) and one endpoint's deliveries with their attempts, redelivered on demand.
 */
export function WebhooksPage() {
  const me = useSession();
  const endpoints = usePolling(() => api.json<WebhookEndpointList>('GET', '/webhooks'), 5000);
  const [selected, setSelected] = useState<WebhookEndpointView | null>(null);
  const [secret, setSecret] = useState<{ url: string; secret: string } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<WebhookEndpointView | null>(null);

  const attempt = async (what: string, call: () => Promise<unknown>) => {
    try {
      await call();
      setNotice(what);
    } catch (e) {
      setNotice(errorText(e));
    }
    endpoints.reload();
  };
  const create = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const eventTypes = EVENT_TYPES.filter((t) => form.get(t) === 'on');
    if (!eventTypes.length) {
      setNotice('choose at least one event');
      return;
    }
    await attempt('endpoint created', async () => {
      const created = await api.json<WebhookEndpointCreated>('POST', '/webhooks', {
        body: {
          url: field(form, 'url'),
          ...(field(form, 'description') ? { description: field(form, 'description') } : {}),
          eventTypes,
        },
      });
      setSecret({ url: created.url, secret: created.secret });
    });
  };
  const rotate = (endpoint: WebhookEndpointView) =>
    attempt('secret rotated; the old one signs for 24 h more', async () => {
      const rotated = await api.json<WebhookEndpointCreated>(
        'POST',
        `/webhooks/${endpoint.id}/rotate-secret`,
      );
      setSecret({ url: rotated.url, secret: rotated.secret });
    });
  const remove = async (endpoint: WebhookEndpointView) => {
    setDeleting(null);
    if (selected?.id === endpoint.id) setSelected(null);
    await attempt('endpoint deleted', () => api.json('DELETE', `/webhooks/${endpoint.id}`));
  };

  return (
    <Page title="Webhooks">
      <p role="status" className="notice">
        {notice}
      </p>
      <ErrorNote error={endpoints.error} />
      {me.canWrite && (
        <form className="inline-form" onSubmit={(e) => void create(e)} aria-label="Add a webhook endpoint">
          <label>
            URL <input name="url" type="url" required maxLength={2000} placeholder="https://…" />
          </label>
          <label>
            Description <input name="description" maxLength={500} />
          </label>
          <fieldset>
            <legend>Events</legend>
            {EVENT_TYPES.map((t) => (
              <label key={t}>
                <input type="checkbox" name={t} defaultChecked /> {short(t)}
              </label>
            ))}
          </fieldset>
          <button type="submit">Add endpoint</button>
        </form>
      )}
      {secret && (
        <div className="created" role="status">
          <p>
            Signing secret for <span className="mono">{secret.url}</span> — shown this once, copy it now:
          </p>
          <input aria-label="the signing secret" readOnly value={secret.secret} className="mono wide" />
        </div>
      )}
      <table>
        <thead>
          <tr>
            <th scope="col">URL</th>
            <th scope="col">Events</th>
            <th scope="col">State</th>
            <th scope="col">Created</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {(endpoints.value?.items ?? []).map((e) => (
            <tr key={e.id} aria-selected={selected?.id === e.id}>
              <td className="mono">{e.url}</td>
              <td>{e.eventTypes.map(short).join(', ')}</td>
              <td>{e.enabled ? 'enabled' : `disabled${e.disabledReason ? `: ${e.disabledReason}` : ''}`}</td>
              <td>{formatTime(e.createdAt)}</td>
              <td className="actions">
                <RowButton label="Deliveries" subject={e.url} onClick={() => setSelected(e)} />
                {me.canWrite && (
                  <>
                    <RowButton
                      label={e.enabled ? 'Disable' : 'Enable'}
                      subject={e.url}
                      onClick={() =>
                        void attempt(e.enabled ? 'endpoint disabled' : 'endpoint enabled', () =>
                          api.json('PATCH', `/webhooks/${e.id}`, { body: { enabled: !e.enabled } }),
                        )
                      }
                    />
                    <RowButton label="Rotate secret" subject={e.url} onClick={() => void rotate(e)} />
                    <RowButton label="Delete" subject={e.url} danger onClick={() => setDeleting(e)} />
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {endpoints.value && endpoints.value.items.length === 0 && <p>No webhook endpoints.</p>}
      {selected && <Deliveries endpoint={selected} canWrite={me.canWrite} onNotice={setNotice} />}
      <Confirm
        open={deleting !== null}
        title={`Delete the endpoint ${deleting?.url ?? ''}?`}
        confirmLabel="Delete endpoint"
        onConfirm={() => deleting && void remove(deleting)}
        onCancel={() => setDeleting(null)}
      >
        <p>Pending deliveries to it are dropped.</p>
      </Confirm>
    </Page>
  );
}

function Deliveries({
  endpoint,
  canWrite,
  onNotice,
}: {
  endpoint: WebhookEndpointView;
  canWrite: boolean;
  onNotice: (text: string) => void;
}) {
  const deliveries = usePolling(
    () =>
      api.json<WebhookDeliveryPage>('GET', `/webhooks/${endpoint.id}/deliveries`, { query: { limit: 50 } }),
    3000,
    [endpoint.id],
  );
  const redeliver = async (id: string) => {
    try {
      await api.json('POST', `/webhooks/${endpoint.id}/deliveries/${id}/redeliver`);
      onNotice('delivery queued again');
    } catch (e) {
      onNotice(errorText(e));
    }
    deliveries.reload();
  };
  return (
    <section aria-label={`Deliveries to ${endpoint.url}`}>
      <h2>Deliveries to {endpoint.url}</h2>
      <ErrorNote error={deliveries.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Event</th>
            <th scope="col">Job</th>
            <th scope="col">Status</th>
            <th scope="col">Attempts</th>
            <th scope="col">Last response</th>
            <th scope="col">Last attempt</th>
            {canWrite && <th scope="col">Actions</th>}
          </tr>
        </thead>
        <tbody>
          {(deliveries.value?.items ?? []).map((d) => (
            <tr key={d.id}>
              <td>{short(d.eventType)}</td>
              <td className="mono">
                <Link to={`/jobs/${d.jobId}`}>{d.jobId.slice(0, 8)}</Link>
              </td>
              <td>
                <Status status={d.status} />
              </td>
              <td>{d.attempts}</td>
              <td>{d.lastResponseStatus ?? d.lastError ?? '—'}</td>
              <td>{formatTime(d.lastAttemptAt)}</td>
              {canWrite && (
                <td className="actions">
                  <RowButton label="Redeliver" subject={d.id} onClick={() => void redeliver(d.id)} />
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {deliveries.value && deliveries.value.items.length === 0 && <p>No deliveries yet.</p>}
    </section>
  );
}
