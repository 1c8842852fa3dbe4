import CircuitBreaker from 'opossum';

/** SPEC §6 breaker settings for one external dependency. */
export interface CircuitBreakerSettings {
  /** Percentage of failed calls in the window that opens the circuit. */
  failureThreshold: number;
  /** Calls the window must hold before the percentage counts at all. */
  volumeThreshold: number;
  rollingWindowMs: number;
  /** Time an open circuit waits before letting one probe call through (half-open). */
  resetTimeoutMs: number;
}

export const DEFAULT_CIRCUIT_BREAKER_SETTINGS: CircuitBreakerSettings = {
  failureThreshold: 50,
  volumeThreshold: 5,
  rollingWindowMs: 300000,
  resetTimeoutMs: 600000,
};

/** The names `switchyard_circuit_state` and `/health` use. */
export type CircuitState = 'closed' | 'half-open' | 'open';

/** Thrown by `fire` without calling the action while the circuit is open (or a probe is out). */
export class CircuitOpenError extends Error {
  constructor(
    readonly breaker: string,
    /** How long until the circuit lets a call through again (0: a probe is in flight now). */
    readonly retryAfterMs: number,
  ) {
    super(`circuit "${breaker}" is open`);
    this.name = 'CircuitOpenError';
  }
}

export interface CircuitBreakerOptions {
  /**
   * Whether an error counts against the dependency. Errors that are the caller's own (a rejected
   * request, the caller's abort) should not open the circuit. Default: every error counts.
   */
  isFailure?: (error: unknown) => boolean;
  /** Called on every state change, e.g. to set a gauge or log. */
  onStateChange?: (state: CircuitState) => void;
}

export interface CircuitBreakerHandle {
  readonly name: string;
  readonly settings: CircuitBreakerSettings;
  state(): CircuitState;
  /** Milliseconds until an open circuit half-opens; 0 when closed or half-open. */
  msUntilHalfOpen(): number;
  /** Runs `action` through the breaker; rejects with CircuitOpenError while it is open. */
  fire<T>(action: () => Promise<T>): Promise<T>;
  /** Stops the breaker's timers. */
  shutdown(): void;
}

/** Buckets of the rolling window; the window must be a whole number of them (opossum checks). */
const BUCKETS = 10;

/**
 * One opossum breaker per dependency. The action is passed per call (one breaker guards every
 * request to a provider), opossum's own timeout is off (callers bound requests with an
 * AbortSignal), and the time the circuit opened is kept so callers can wait exactly until the
 * half-open probe instead of polling.
 */
export function createCircuitBreaker(
  name: string,
  settings: CircuitBreakerSettings = DEFAULT_CIRCUIT_BREAKER_SETTINGS,
  options: CircuitBreakerOptions = {},
): CircuitBreakerHandle {
  const rollingWindowMs = Math.max(BUCKETS, Math.round(settings.rollingWindowMs / BUCKETS) * BUCKETS);
  const breaker = new CircuitBreaker((action: () => Promise<unknown>) => action(), {
    name,
    timeout: false,
    errorThresholdPercentage: settings.failureThreshold,
    volumeThreshold: settings.volumeThreshold,
    rollingCountTimeout: rollingWindowMs,
    rollingCountBuckets: BUCKETS,
    resetTimeout: settings.resetTimeoutMs,
    // opossum's filter returns true for errors that must NOT count as failures.
    errorFilter: options.isFailure ? (error: unknown) => !options.isFailure?.(error) : undefined,
  });
  let openedAt = 0;
  const report = (state: CircuitState) => options.onStateChange?.(state);
  breaker.on('open', () => {
    openedAt = Date.now();
    report('open');
  });
  breaker.on('halfOpen', () => report('half-open'));
  breaker.on('close', () => report('closed'));

  const state = (): CircuitState => (breaker.opened ? 'open' : breaker.halfOpen ? 'half-open' : 'closed');
  const msUntilHalfOpen = () =>
    breaker.opened ? Math.max(0, openedAt + settings.resetTimeoutMs - Date.now()) : 0;

  return {
    name,
    settings,
    state,
    msUntilHalfOpen,
    async fire<T>(action: () => Promise<T>): Promise<T> {
      try {
        return (await breaker.fire(action)) as T;
      } catch (error) {
        if ((error as { code?: unknown }).code === 'EOPENBREAKER') {
          throw new CircuitOpenError(name, msUntilHalfOpen());
        }
        throw error;
      }
    },
    shutdown: () => breaker.shutdown(),
  };
}
