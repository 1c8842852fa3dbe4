import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/** Resolves a host name to every address it has (dns.lookup with `all: true`, or a test's stub). */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) =>
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) =>
      error ? reject(error) : resolve(addresses),
    ),
  );

/**
 * Addresses a webhook must not reach unless WEBHOOK_ALLOW_PRIVATE: loopback, private (RFC 1918,
 * unique local), link-local (cloud metadata at 169.254.169.254), carrier-grade NAT, unspecified,
 * multicast and reserved ranges. IPv4-mapped IPv6 addresses are checked as the IPv4 address.
 */
const BLOCKED = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  BLOCKED.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  BLOCKED.addSubnet(network, prefix, 'ipv6');
}

/** True when `address` (IPv4 or IPv6 text) is one webhooks must not reach. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return BLOCKED.check(address, 'ipv4');
  if (family !== 6) return true; // not an address at all: refuse
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return BLOCKED.check(mapped[1], 'ipv4');
  return BLOCKED.check(address, 'ipv6');
}

export interface TargetPolicy {
  allowPrivate: boolean;
  resolve: Resolver;
}

/** Why a webhook URL is refused. */
export class WebhookTargetRefused extends Error {}

/**
 * Checks a webhook URL: http or https, no credentials, and (unless private targets are allowed)
 * a host that is not, and does not resolve to, a private, loopback or link-local address.
 */
export async function checkWebhookTarget(raw: string, policy: TargetPolicy): Promise<URL> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new WebhookTargetRefused('not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new WebhookTargetRefused('only http and https URLs are allowed');
  }
  if (url.username || url.password) throw new WebhookTargetRefused('credentials in the URL are not allowed');
  if (policy.allowPrivate) return url;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: string[];
  if (isIP(host)) {
    addresses = [host];
  } else {
    try {
      addresses = (await policy.resolve(host)).map((a) => a.address);
    } catch {
      throw new WebhookTargetRefused(`${host} does not resolve`);
    }
    if (!addresses.length) throw new WebhookTargetRefused(`${host} does not resolve`);
  }
  const refused = addresses.find(isPrivateAddress);
  if (refused !== undefined) {
    throw new WebhookTargetRefused(
      `${host} is (or resolves to) ${refused}: private, loopback and link-local targets are not allowed`,
    );
  }
  return url;
}

/** dns.lookup with `all: true` (or a test's stub): what a connection resolves its host with. */
export type LookupAll = (
  hostname: string,
  options: LookupAllOptions,
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

const systemLookupAll: LookupAll = (hostname, options, callback) => dnsLookup(hostname, options, callback);

/**
 * A `lookup` for http.request that refuses private addresses at connect time, so a name that
 * resolved to a public address when checked cannot be switched to a private one (DNS rebinding).
 */
export function guardedLookup(policy: TargetPolicy, lookup: LookupAll = systemLookupAll): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const list = addresses;
      const usable = policy.allowPrivate ? list : list.filter((a) => !isPrivateAddress(a.address));
      if (!usable.length) {
        return callback(new WebhookTargetRefused(`${hostname} resolves to a refused address`), '', 0);
      }
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, usable);
      const first = usable[0];
      callback(null, first.address, first.family);
    });
  };
}
