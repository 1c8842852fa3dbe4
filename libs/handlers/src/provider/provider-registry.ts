import type { CircuitState } from '@switchyard/resilience';
import { ProviderClient } from './provider-client';
import { loadProvidersFile, ProvidersFileError, type ProvidersFile } from './providers-file';

/** The providers of PROVIDERS_FILE, each with its own breaker. */
export class ProviderRegistry {
  private readonly clients = new Map<string, ProviderClient>();

  constructor(clients: readonly ProviderClient[] = []) {
    for (const client of clients) this.clients.set(client.name, client);
  }

  /**
   * Builds the clients of a parsed providers document. `readSecret` returns the value of the
   * environment variable a provider names; a provider whose secret is unset is refused here, at
   * boot, rather than failing every job later with a 401.
   */
  static fromDocument(
    document: ProvidersFile,
    readSecret: (variable: string) => string | undefined,
    onStateChange: (provider: string, state: CircuitState) => void = () => undefined,
  ): ProviderRegistry {
    const missing: string[] = [];
    const clients = Object.entries(document.providers).map(([name, config]) => {
      const secret = config.auth ? readSecret(config.auth.secretEnv) : undefined;
      if (config.auth && secret === undefined) missing.push(`${config.auth.secretEnv} (provider "${name}")`);
      return new ProviderClient(name, config, secret, (state) => onStateChange(name, state));
    });
    if (missing.length) {
      for (const client of clients) client.breaker.shutdown();
      throw new ProvidersFileError(`PROVIDERS_FILE names secrets that are not set: ${missing.join(', ')}`);
    }
    return new ProviderRegistry(clients);
  }

  static async fromFile(
    path: string,
    readSecret: (variable: string) => string | undefined,
    onStateChange?: (provider: string, state: CircuitState) => void,
  ): Promise<ProviderRegistry> {
    return ProviderRegistry.fromDocument(await loadProvidersFile(path), readSecret, onStateChange);
  }

  get(name: string): ProviderClient | undefined {
    return this.clients.get(name);
  }

  names(): string[] {
    return [...this.clients.keys()];
  }

  /** Circuit state per provider, for `/health/ready` and logs. */
  states(): Record<string, CircuitState> {
    const states: Record<string, CircuitState> = {};
    for (const [name, client] of this.clients) states[name] = client.breaker.state();
    return states;
  }

  shutdown(): void {
    for (const client of this.clients.values()) client.breaker.shutdown();
  }
}
