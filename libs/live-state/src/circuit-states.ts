import type { Redis } from 'ioredis';

/** The breaker states workers report (as @switchyard/resilience names them). */
export type ReportedCircuitState = 'closed' | 'half-open' | 'open';

const STATES: readonly ReportedCircuitState[] = ['closed', 'half-open', 'open'];
const SEPARATOR = '\t';

export interface CircuitStatesOptions {
  /** REDIS_PREFIX. */
  prefix: string;
  /** A report not renewed for this long no longer counts (its worker is gone). */
  ttlMs: number;
}

/**
 * Circuit breaker states of every worker, for the gateway's `/health`: one sorted set whose
 * members are `provider<TAB>worker<TAB>state`, scored by expiry. Each worker re-reports its
 * states well within `ttlMs`; the reports of a worker that died expire, so `/health` does not
 * stay `degraded` for a circuit no live worker has open.
 */
export class CircuitStates {
  /** This process's members as last written, per provider, so a change removes the old one. */
  private readonly written = new Map<string, string>();

  constructor(
    private readonly redis: Redis,
    private readonly options: CircuitStatesOptions,
  ) {}

  get key(): string {
    return `${this.options.prefix}circuits:reports`;
  }

  /** Writes (or renews) this worker's state of every provider given. */
  async report(workerId: string, states: Readonly<Record<string, ReportedCircuitState>>): Promise<void> {
    const expiresAt = Date.now() + this.options.ttlMs;
    const multi = this.redis.multi();
    for (const [provider, state] of Object.entries(states)) {
      const member = [provider, workerId, state].join(SEPARATOR);
      const previous = this.written.get(provider);
      if (previous !== undefined && previous !== member) multi.zrem(this.key, previous);
      multi.zadd(this.key, expiresAt, member);
      this.written.set(provider, member);
    }
    multi.zremrangebyscore(this.key, '-inf', Date.now());
    multi.pexpire(this.key, this.options.ttlMs);
    await multi.exec();
  }

  /** Removes this worker's reports (a clean shutdown). */
  async withdraw(): Promise<void> {
    const members = [...this.written.values()];
    this.written.clear();
    if (members.length) await this.redis.zrem(this.key, ...members);
  }

  /** Per provider, the worst state any live worker reports (open > half-open > closed). */
  async read(): Promise<Record<string, ReportedCircuitState>> {
    const members = await this.redis.zrangebyscore(this.key, `(${Date.now()}`, '+inf');
    const worst: Record<string, ReportedCircuitState> = {};
    for (const member of members) {
      const [provider, , state] = member.split(SEPARATOR);
      if (provider === undefined || !STATES.includes(state as ReportedCircuitState)) continue;
      const current = worst[provider];
      const rank = STATES.indexOf(state as ReportedCircuitState);
      if (current === undefined || rank > STATES.indexOf(current))
        worst[provider] = state as ReportedCircuitState;
    }
    return worst;
  }
}
