import type { Command } from 'commander';
import type { ApiKeyCreated, ApiKeyList } from '@switchyard/contracts';
import type { App } from './cli.context';
import { formatTime, table } from './format';

interface CreateFlags {
  tenant: string;
  name: string;
  scopes: string;
}

const SCOPES = ['jobs:read', 'jobs:write', 'admin'];

export function registerKeysCommands(program: Command, app: App): void {
  const keys = program.command('keys').description('API keys (needs an admin key)');

  keys
    .command('create')
    .description('create an API key for a tenant; the key is shown once')
    .requiredOption('--tenant <tenant>', 'the tenant the key belongs to')
    .requiredOption('--name <name>', 'a name to recognise the key by')
    .option('--scopes <scopes>', `comma-separated: ${SCOPES.join(', ')}`, 'jobs:read,jobs:write')
    .action(async (flags: CreateFlags, cmd: Command) => {
      const ctx = app.context(cmd);
      const scopes = flags.scopes
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      const { body } = await ctx.client.json<ApiKeyCreated>('POST', '/admin/api-keys', {
        body: { tenant: flags.tenant, name: flags.name, scopes },
        signal: ctx.signal,
      });
      const { out } = ctx;
      if (out.json) return out.data(body);
      out.line(`created key ${body.id} for tenant ${flags.tenant} (${scopes.join(', ')})`);
      out.line(`key: ${out.style.bold(body.key)}`);
      out.error(out.style.yellow('the key is shown only this once: store it now'));
    });

  keys
    .command('list')
    .description('list API keys (never the keys themselves); revoked keys show when')
    .option('--tenant <tenant>', "only this tenant's keys")
    .action(async (flags: { tenant?: string }, cmd: Command) => {
      const ctx = app.context(cmd);
      const { body } = await ctx.client.json<ApiKeyList>('GET', '/admin/api-keys', {
        query: { tenant: flags.tenant },
        signal: ctx.signal,
      });
      const { out } = ctx;
      out.page(body, 'no API keys', (items) =>
        table(
          ['ID', 'TENANT', 'NAME', 'SCOPES', 'CREATED', 'REVOKED'],
          items.map((k) => [
            k.id,
            k.tenant,
            k.name,
            k.scopes.join(','),
            formatTime(k.createdAt),
            k.revokedAt === null ? '-' : out.style.yellow(formatTime(k.revokedAt)),
          ]),
          out.style,
        ),
      );
    });

  keys
    .command('revoke')
    .description('revoke an API key; requests with it fail from now on')
    .argument('<id>', 'key id (from keys create)')
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      await ctx.client.json<undefined>('DELETE', `/admin/api-keys/${encodeURIComponent(id)}`, {
        signal: ctx.signal,
      });
      if (ctx.out.json) ctx.out.data({ id, revoked: true });
      else ctx.out.line(`revoked key ${id}`);
    });
}
