import type { Redis } from 'ioredis';
import pino from 'pino';
import type { ChannelSubscriber } from '@switchyard/live-state';
import type { ApiKeyRecord, ApiKeysRepository } from '@switchyard/persistence';
import type { GatewayConfig } from '../gateway.tokens';
import { hashApiKey } from './api-key';
import { ApiKeysService, REFRESH_BATCH_MS } from './api-keys.service';
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

/**
 * A repository whose lookups the test answers one by one: `waiting` the single lookups (a key not
 * cached), `batches` the refresh statements (many keys at once).
 */
function pendingLookups() {
  const waiting: { hash: string; answer: (record: ApiKeyRecord | null) => void }[] = [];
  const batches: {
    hashes: string[];
    answer: (records: Map<string, ApiKeyRecord>) => void;
    fail: () => void;
  }[] = [];
  const repository = {
    findByHash: (hash: string) =>
      new Promise<ApiKeyRecord | null>((answer) => waiting.push({ hash, answer })),
    findByHashes: (hashes: string[]) =>
      new Promise<Map<string, ApiKeyRecord>>((answer, reject) =>
        batches.push({ hashes: [...hashes], answer, fail: () => reject(new Error('PostgreSQL down')) }),
      ),
  } as unknown as ApiKeysRepository;
  return { repository, waiting, batches };
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
  const lookups = pendingLookups();
  const { keys, revoke } = service(lookups.repository);
  const first = keys.authenticate(KEY);
  lookups.waiting.shift()!.answer(RECORD);
  await first;
  return { keys, revoke, ...lookups };
}

const settled = () => new Promise((resolve) => setImmediate(resolve));
/** Moves the clock (Date.now and timers) on by `ms`. */
const wait = (ms: number) => jest.advanceTimersByTime(ms);
const records = (...list: [string, ApiKeyRecord][]) => new Map(list);

describe('ApiKeysService cache', () => {
  beforeEach(() =>
    jest.useFakeTimers({ now: 1_000_000, doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] }),
  );
  afterEach(() => jest.useRealTimers());

  it('answers a key in steady use from the cache and looks it up again in the background before it expires', async () => {
    const { repository, waiting, batches } = pendingLookups();
    const { keys } = service(repository);

    const first = keys.authenticate(KEY);
    expect(waiting).toHaveLength(1);
    waiting.shift()!.answer(RECORD);
    await expect(first).resolves.toMatchObject({ keyId: 'key-1', tenant: 'acme' });

    wait(1000);
    await expect(keys.authenticate(KEY)).resolves.toMatchObject({ keyId: 'key-1' });
    wait(REFRESH_BATCH_MS);
    expect(waiting).toHaveLength(0);
    expect(batches).toHaveLength(0);

    // Old enough to refresh: the request is answered at once, one refresh follows within
    // REFRESH_BATCH_MS…
    wait(2500);
    await expect(keys.authenticate(KEY)).resolves.toMatchObject({ keyId: 'key-1' });
    await expect(keys.authenticate(KEY)).resolves.toMatchObject({ keyId: 'key-1' });
    expect(batches).toHaveLength(0);
    wait(REFRESH_BATCH_MS);
    expect(batches.map((b) => b.hashes)).toEqual([[hashApiKey(KEY)]]);

    // …and its answer replaces the entry: the key was narrowed meanwhile.
    batches.shift()!.answer(records([hashApiKey(KEY), { ...RECORD, scopes: [] }]));
    await settled();
    await expect(keys.authenticate(KEY)).resolves.toMatchObject({ scopes: [] });
    wait(REFRESH_BATCH_MS);
    expect(waiting).toHaveLength(0);
    expect(batches).toHaveLength(0);
  });

  it('refreshes every key that came due within the window in one statement', async () => {
    const { repository, waiting, batches } = pendingLookups();
    const { keys } = service(repository);
    const names = ['k1', 'k2', 'k3'];
    const ids = new Map(names.map((name, i) => [hashApiKey(name), { ...RECORD, id: `key-${i}` }]));
    const firsts = names.map((name) => keys.authenticate(name));
    for (const lookup of waiting.splice(0)) lookup.answer(ids.get(lookup.hash) ?? null);
    await Promise.all(firsts);

    wait(3000);
    for (const name of names) await keys.authenticate(name);
    wait(REFRESH_BATCH_MS / 2);
    // Due now and still in the window: in the same statement.
    await keys.authenticate(names[0]);
    wait(REFRESH_BATCH_MS / 2);
    expect(waiting).toHaveLength(0);
    expect(batches.map((b) => b.hashes.sort())).toEqual([[...ids.keys()].sort()]);

    // k2 was revoked, k3 deleted: the answers end their use; k1 goes on.
    const [k1, k2] = [...ids.entries()];
    batches.shift()!.answer(records(k1, [k2[0], { ...k2[1], revokedAt: new Date() }]));
    await settled();
    await expect(keys.authenticate('k1')).resolves.toMatchObject({ keyId: 'key-0' });
    await expect(keys.authenticate('k2')).resolves.toBeNull();
    await expect(keys.authenticate('k3')).resolves.toBeNull();
    expect(waiting).toHaveLength(0);
  });

  it('a refresh that finds the key revoked ends its use', async () => {
    const { keys, batches } = await cachedKey();

    wait(3500);
    await expect(keys.authenticate(KEY)).resolves.not.toBeNull();
    wait(REFRESH_BATCH_MS);
    batches.shift()!.answer(records([hashApiKey(KEY), { ...RECORD, revokedAt: new Date() }]));
    await settled();
    await expect(keys.authenticate(KEY)).resolves.toBeNull();
  });

  it('a failed refresh leaves the entry to refresh again on its next use', async () => {
    const { keys, batches } = await cachedKey();

    wait(3500);
    await keys.authenticate(KEY);
    wait(REFRESH_BATCH_MS);
    batches.shift()!.fail();
    await settled();
    await expect(keys.authenticate(KEY)).resolves.not.toBeNull();
    wait(REFRESH_BATCH_MS);
    expect(batches).toHaveLength(1);
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
    waiting.shift()!.answer({ ...RECORD, revokedAt: new Date() });
    await expect(second).resolves.toBeNull();
  });

  it("a refresh that overlapped another key's revocation does not stop the next refresh", async () => {
    const { keys, revoke, batches } = await cachedKey();

    wait(3500);
    await expect(keys.authenticate(KEY)).resolves.not.toBeNull();
    wait(REFRESH_BATCH_MS);
    revoke(hashApiKey('another key'));
    batches.shift()!.answer(records([hashApiKey(KEY), RECORD]));
    await settled();
    // Not cached (it overlapped a revocation), so the next use starts a refresh again…
    await expect(keys.authenticate(KEY)).resolves.not.toBeNull();
    wait(REFRESH_BATCH_MS);
    expect(batches).toHaveLength(1);
    // …and the request was still answered from the cache.
    batches.shift()!.answer(records([hashApiKey(KEY), RECORD]));
  });

  it('never serves an entry older than 5 s: with its refresh unanswered, a revoked key is refused after that', async () => {
    const { keys, waiting, batches } = await cachedKey();

    // The refresh starts at 3 s and hangs (PostgreSQL slow); the entry is still served…
    wait(3500);
    await expect(keys.authenticate(KEY)).resolves.not.toBeNull();
    wait(1400);
    expect(batches).toHaveLength(1);
    await expect(keys.authenticate(KEY)).resolves.not.toBeNull();
    // …until 5 s after it was read: then the request waits for a lookup of its own, which finds
    // the key revoked meanwhile.
    wait(200);
    const late = keys.authenticate(KEY);
    expect(waiting).toHaveLength(1);
    waiting.pop()!.answer({ ...RECORD, revokedAt: new Date() });
    await expect(late).resolves.toBeNull();
    batches.shift()!.answer(records([hashApiKey(KEY), { ...RECORD, revokedAt: new Date() }]));
  });

  it('a refresh answered late is cached only for what remains of the 5 s since it was read', async () => {
    const { keys, waiting, batches } = await cachedKey();

    wait(3000);
    await keys.authenticate(KEY);
    wait(REFRESH_BATCH_MS);
    // The statement was sent at 3.1 s; its answer comes 4 s later (entry expired meanwhile).
    wait(4000);
    batches.shift()!.answer(records([hashApiKey(KEY), RECORD]));
    await settled();
    wait(1001);
    // Read over 5 s ago: not served any more, the request looks the key up itself.
    const later = keys.authenticate(KEY);
    expect(waiting).toHaveLength(1);
    waiting.shift()!.answer(RECORD);
    await expect(later).resolves.not.toBeNull();
  });
});
