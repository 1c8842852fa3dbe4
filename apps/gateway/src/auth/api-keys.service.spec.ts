import type { Redis } from 'ioredis';
import pino from 'pino';
import type { ChannelSubscriber } from '@switchyard/live-state';
import type { ApiKeyRecord, ApiKeysRepository } from '@switchyard/persistence';
import type { GatewayConfig } from '../gateway.tokens';
import { hashApiKey } from './api-key';
import { ApiKeysService } from './api-keys.service';
import type { LiveKeys } from './live-keys';

const KEY = 'sy_test_key';
const RECORD: ApiKeyRecord = {
  id: 'key-1',
  tenant: 'acme',
  name: 'ci',
  scopes: ['jobs:read'],
  createdAt: new Date(0),
  revokedAt: null,
};

/** A repository whose lookups the test answers one by one. */
function pendingLookups() {
  const waiting: { hash: string; answer: (record: ApiKeyRecord | null) => void }[] = [];
  const repository = {
    findByHash: (hash: string) =>
      new Promise<ApiKeyRecord | null>((answer) => waiting.push({ hash, answer })),
  } as unknown as ApiKeysRepository;
  return { repository, waiting };
}

function service(repository: ApiKeysRepository) {
  let revoked: ((keyHash: string) => void) | undefined;
  const subscriber = {
    subscribe: (_channel: string, handler: (keyHash: string) => void) => {
      revoked = handler;
      return Promise.resolve();
    },
  } as unknown as ChannelSubscriber;
  const keys = new ApiKeysService(
    hashApiKey('admin'),
    { REDIS_PREFIX: 'sy:' } as GatewayConfig,
    pino({ level: 'silent' }),
    {} as Redis,
    repository,
    subscriber,
    { forgetHash: () => undefined } as unknown as LiveKeys,
  );
  keys.onModuleInit();
  return { keys, revoke: (keyHash: string) => revoked?.(keyHash) };
}

/** A service whose cache holds KEY, read just now (its first lookup answered with RECORD). */
async function cachedKey() {
  const { repository, waiting } = pendingLookups();
  const { keys, revoke } = service(repository);
  const first = keys.authenticate(KEY);
  waiting.shift()!.answer(RECORD);
  await first;
  return { keys, revoke, waiting };
}

describe('ApiKeysService cache', () => {
  let now = 1_000_000;
  beforeEach(() => jest.spyOn(Date, 'now').mockImplementation(() => now));
  afterEach(() => jest.restoreAllMocks());

  it('answers a key in steady use from the cache and looks it up again in the background before it expires', async () => {
    const { repository, waiting } = pendingLookups();
    const { keys } = service(repository);

    const first = keys.authenticate(KEY);
    expect(waiting).toHaveLength(1);
    waiting.shift()!.answer(RECORD);
    await expect(first).resolves.toMatchObject({ keyId: 'key-1', tenant: 'acme' });

    now += 1000;
    await expect(keys.authenticate(KEY)).resolves.toMatchObject({ keyId: 'key-1' });
    expect(waiting).toHaveLength(0);

    // Old enough to refresh: the request is answered at once, one lookup starts behind it…
    now += 2500;
    await expect(keys.authenticate(KEY)).resolves.toMatchObject({ keyId: 'key-1' });
    await expect(keys.authenticate(KEY)).resolves.toMatchObject({ keyId: 'key-1' });
    expect(waiting).toHaveLength(1);

    // …and its answer replaces the entry: the key was narrowed meanwhile.
    waiting.shift()!.answer({ ...RECORD, scopes: [] });
    await new Promise((resolve) => setImmediate(resolve));
    await expect(keys.authenticate(KEY)).resolves.toMatchObject({ scopes: [] });
    expect(waiting).toHaveLength(0);
  });

  it('a refresh that finds the key revoked ends its use', async () => {
    const { keys, waiting } = await cachedKey();

    now += 3500;
    await expect(keys.authenticate(KEY)).resolves.not.toBeNull();
    waiting.shift()!.answer({ ...RECORD, revokedAt: new Date(now) });
    await new Promise((resolve) => setImmediate(resolve));
    await expect(keys.authenticate(KEY)).resolves.toBeNull();
  });

  it('does not cache a lookup that overlapped a revocation', async () => {
    const { repository, waiting } = pendingLookups();
    const { keys, revoke } = service(repository);
    const first = keys.authenticate(KEY);
    // The row was read before the revocation committed; the broadcast arrives before the answer.
    revoke(hashApiKey(KEY));
    waiting.shift()!.answer(RECORD);
    await first;

    const second = keys.authenticate(KEY);
    expect(waiting).toHaveLength(1);
    waiting.shift()!.answer({ ...RECORD, revokedAt: new Date(now) });
    await expect(second).resolves.toBeNull();
  });

  it("a refresh that overlapped another key's revocation does not stop the next refresh", async () => {
    const { keys, revoke, waiting } = await cachedKey();

    now += 3500;
    await expect(keys.authenticate(KEY)).resolves.not.toBeNull();
    revoke(hashApiKey('another key'));
    waiting.shift()!.answer(RECORD);
    await new Promise((resolve) => setImmediate(resolve));
    // Not cached (it overlapped a revocation), so the next use starts a refresh again…
    await expect(keys.authenticate(KEY)).resolves.not.toBeNull();
    expect(waiting).toHaveLength(1);
    // …and the request was still answered from the cache.
    waiting.shift()!.answer(RECORD);
  });

  it('never serves an entry older than 5 s: with its refresh unanswered, a revoked key is refused after that', async () => {
    const { keys, waiting } = await cachedKey();

    // The refresh starts at 3 s and hangs (PostgreSQL slow); the entry is still served…
    now += 3500;
    await expect(keys.authenticate(KEY)).resolves.not.toBeNull();
    expect(waiting).toHaveLength(1);
    now += 1400;
    await expect(keys.authenticate(KEY)).resolves.not.toBeNull();
    expect(waiting).toHaveLength(1);
    // …until 5 s after it was read: then the request waits for a lookup of its own, which finds
    // the key revoked meanwhile.
    now += 200;
    const late = keys.authenticate(KEY);
    expect(waiting).toHaveLength(2);
    waiting.pop()!.answer({ ...RECORD, revokedAt: new Date(now) });
    await expect(late).resolves.toBeNull();
    waiting.shift()!.answer({ ...RECORD, revokedAt: new Date(now) });
  });
});
