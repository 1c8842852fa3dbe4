import { useState, type FormEvent } from 'react';
import type { ApiKeyCreated, ApiKeyList, TenantSettings } from '@switchyard/contracts';
import { api, errorText } from '../api';
import { Confirm, ErrorNote, field, formatTime, JsonView, Page, RowButton, usePolling } from '../ui';

const SCOPES = ['jobs:read', 'jobs:write', 'admin'] as const;

/** Settings (admin): API keys (created key shown once, revoke) and tenants. */
export function SettingsPage() {
  const keys = usePolling(() => api.json<ApiKeyList>('GET', '/admin/api-keys'), 0);
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [revoking, setRevoking] = useState<{ id: string; name: string } | null>(null);
  const [tenant, setTenant] = useState<TenantSettings | null>(null);

  const create = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    try {
      setCreated(
        await api.json<ApiKeyCreated>('POST', '/admin/api-keys', {
          body: {
            tenant: field(form, 'tenant'),
            name: field(form, 'name'),
            scopes: SCOPES.filter((s) => form.get(s) === 'on'),
          },
        }),
      );
      setError(null);
    } catch (e) {
      setError(e);
    }
    keys.reload();
  };
  const revoke = async (id: string) => {
    setRevoking(null);
    try {
      await api.json('DELETE', `/admin/api-keys/${id}`);
    } catch (e) {
      setError(e);
    }
    keys.reload();
  };
  const lookUp = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const name = field(new FormData(event.currentTarget), 'tenant');
    try {
      setTenant(await api.json<TenantSettings>('GET', `/admin/tenants/${encodeURIComponent(name)}`));
    } catch (e) {
      setError(errorText(e));
    }
  };

  const setWeight = async (event: FormEvent<HTMLFormElement>, name: string) => {
    event.preventDefault();
    const weight = Number(field(new FormData(event.currentTarget), 'weight'));
    try {
      setTenant(
        await api.json<TenantSettings>('PUT', `/admin/tenants/${encodeURIComponent(name)}`, {
          body: { weight },
        }),
      );
      setError(null);
    } catch (e) {
      setError(errorText(e));
    }
  };

  return (
    <Page title="Settings">
      <ErrorNote error={error ?? keys.error} />
      <h2>API keys</h2>
      <form className="inline-form" onSubmit={(e) => void create(e)} aria-label="Create an API key">
        <label>
          Tenant <input name="tenant" required pattern="[A-Za-z0-9][A-Za-z0-9._\-]{0,99}" />
        </label>
        <label>
          Name <input name="name" required maxLength={200} />
        </label>
        <fieldset>
          <legend>Scopes</legend>
          {SCOPES.map((s) => (
            <label key={s}>
              <input type="checkbox" name={s} defaultChecked={s === 'jobs:read'} /> {s}
            </label>
          ))}
        </fieldset>
        <button type="submit">Create key</button>
      </form>
      {created && (
        <div className="created" role="status">
          <p>
            Key for <strong>{created.name}</strong> — shown this once, copy it now:
          </p>
          <input aria-label="the new API key" readOnly value={created.key} className="mono wide" />
        </div>
      )}
      <table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Tenant</th>
            <th scope="col">Scopes</th>
            <th scope="col">Created</th>
            <th scope="col">State</th>
          </tr>
        </thead>
        <tbody>
          {(keys.value?.items ?? []).map((k) => (
            <tr key={k.id}>
              <td>{k.name}</td>
              <td>{k.tenant}</td>
              <td>{k.scopes.join(', ')}</td>
              <td>{formatTime(k.createdAt)}</td>
              <td>
                {k.revokedAt ? (
                  `revoked ${formatTime(k.revokedAt)}`
                ) : (
                  <RowButton
                    label="Revoke"
                    subject={k.name}
                    danger
                    onClick={() => setRevoking({ id: k.id, name: k.name })}
                  />
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Tenants</h2>
      <form className="inline-form" onSubmit={(e) => void lookUp(e)} aria-label="Look up a tenant">
        <label>
          Tenant <input name="tenant" required />
        </label>
        <button type="submit">Show settings</button>
      </form>
      {tenant && (
        <>
          <form
            className="inline-form"
            onSubmit={(e) => void setWeight(e, tenant.tenant)}
            aria-label={`Fair-share weight of ${tenant.tenant}`}
          >
            <label>
              Weight of {tenant.tenant}{' '}
              <input name="weight" type="number" min={1} max={1000} required defaultValue={tenant.weight} />
            </label>
            <button type="submit">Save weight</button>
          </form>
          <JsonView title={`Tenant ${tenant.tenant}`} value={tenant} />
        </>
      )}
      <Confirm
        open={revoking !== null}
        title={`Revoke ${revoking?.name ?? ''}?`}
        confirmLabel="Revoke key"
        onConfirm={() => revoking && void revoke(revoking.id)}
        onCancel={() => setRevoking(null)}
      >
        <p>Requests and console sessions with this key stop within 5 seconds.</p>
      </Confirm>
    </Page>
  );
}
