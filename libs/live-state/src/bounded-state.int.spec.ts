import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { CircuitStates } from './circuit-states';
import { createRedis } from './redis';
import { StreamSlots } from './stream-slots';

const REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const prefix = `sytest:${randomUUID().slice(0, 8)}:`;

/** Polls `probe` until it gives a value, failing after `timeoutMs` (no fixed sleeps). */
async function waitFor<T>(
  probe: () => Promise<T | undefined>,
  options: { timeoutMs: number; intervalMs: number; what: string },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${options.what}`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
}

let a: Redis;
let b: Redis;

beforeAll(() => {
  a = createRedis(REDIS_URL, { connectionName: `${prefix}a` });
  b = createRedis(REDIS_URL, { connectionName: `${prefix}b` });
});

afterAll(async () => {
  const keys = await a.keys(`${prefix}*`);
  if (keys.length) await a.del(...keys);
  await Promise.all([a.quit(), b.quit()]);
});

describe('StreamSlots (real Redis)', () => {
  it('two gateways share one tenant’s limit; tenants are apart; a release frees a slot', async () => {
    const gatewayA = new StreamSlots(a, { prefix, ttlMs: 60000 });
    const gatewayB = new StreamSlots(b, { prefix, ttlMs: 60000 });
    expect(await gatewayA.acquire('t1', 'a:1', 3)).toBe(true);
    expect(await gatewayB.acquire('t1', 'b:1', 3)).toBe(true);
    expect(await gatewayA.acquire('t1', 'a:2', 3)).toBe(true);
    expect(await gatewayB.acquire('t1', 'b:2', 3)).toBe(false);
    expect(await gatewayA.acquire('t1', 'a:3', 3)).toBe(false);
    expect(await gatewayB.acquire('t2', 'b:3', 3)).toBe(true);
    expect(await gatewayA.count('t1')).toBe(3);
    await gatewayA.release('t1', 'a:1');
    expect(await gatewayB.acquire('t1', 'b:2', 3)).toBe(true);
    expect(await gatewayB.count('t1')).toBe(3);
  });

  it('the slots of a gateway that stops renewing them lapse; renewed ones stay', async () => {
    const crashed = new StreamSlots(a, { prefix, ttlMs: 300 });
    const alive = new StreamSlots(b, { prefix, ttlMs: 300 });
    expect(await crashed.acquire('t3', 'dead:1', 2)).toBe(true);
    expect(await alive.acquire('t3', 'live:1', 2)).toBe(true);
    expect(await alive.acquire('t3', 'live:2', 2)).toBe(false);
    const renewing = setInterval(() => void alive.refresh(new Map([['t3', ['live:1']]])), 50);
    try {
      await waitFor(async () => ((await alive.acquire('t3', 'live:2', 2)) ? true : undefined), {
        timeoutMs: 5000,
        intervalMs: 50,
        what: 'the crashed gateway’s slot to lapse',
      });
      // Both of the live gateway's slots are held: the renewed one did not lapse.
      expect(await alive.count('t3')).toBe(2);
      expect(await alive.acquire('t3', 'live:3', 2)).toBe(false);
    } finally {
      clearInterval(renewing);
    }
    expect(await a.pttl(crashed.key('t3'))).toBeGreaterThan(0);
  });
});

describe('CircuitStates (real Redis)', () => {
  it('reports the worst state per provider over live workers; a dead worker’s report lapses', async () => {
    const workerA = new CircuitStates(a, { prefix: `${prefix}c1:`, ttlMs: 400 });
    const workerB = new CircuitStates(b, { prefix: `${prefix}c1:`, ttlMs: 60000 });
    const gateway = new CircuitStates(b, { prefix: `${prefix}c1:`, ttlMs: 0 });
    await workerA.report('wa', { acme: 'open', other: 'closed' });
    await workerB.report('wb', { acme: 'closed', other: 'half-open' });
    expect(await gateway.read()).toEqual({ acme: 'open', other: 'half-open' });
    // Worker A dies (stops renewing): within its TTL, /health no longer sees its open circuit.
    const after = await waitFor(
      async () => {
        const states = await gateway.read();
        return states['acme'] === 'closed' ? states : undefined;
      },
      { timeoutMs: 5000, intervalMs: 50, what: 'the dead worker’s report to lapse' },
    );
    expect(after).toEqual({ acme: 'closed', other: 'half-open' });
  });

  it('a state change replaces the worker’s earlier report; withdraw removes them', async () => {
    const worker = new CircuitStates(a, { prefix: `${prefix}c2:`, ttlMs: 60000 });
    const gateway = new CircuitStates(b, { prefix: `${prefix}c2:`, ttlMs: 0 });
    await worker.report('w', { acme: 'open' });
    await worker.report('w', { acme: 'half-open' });
    await worker.report('w', { acme: 'closed' });
    expect(await gateway.read()).toEqual({ acme: 'closed' });
    expect(await b.zcard(gateway.key)).toBe(1);
    expect(await b.pttl(gateway.key)).toBeGreaterThan(0);
    await worker.withdraw();
    expect(await gateway.read()).toEqual({});
  });
});
