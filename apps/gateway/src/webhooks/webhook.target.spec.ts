import type { LookupAddress } from 'node:dns';
import { checkWebhookTarget, isPrivateAddress, WebhookTargetRefused, type Resolver } from './webhook.target';

/** A resolver stub: names to addresses, as DNS would answer; nothing leaves the process. */
function stubResolver(table: Record<string, string[]>): Resolver & { asked: string[] } {
  const asked: string[] = [];
  const resolve = (hostname: string): Promise<LookupAddress[]> => {
    asked.push(hostname);
    const addresses = table[hostname];
    if (!addresses) return Promise.reject(Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' }));
    return Promise.resolve(addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
  };
  return Object.assign(resolve, { asked });
}

const resolver = stubResolver({
  'metadata.example': ['169.254.169.254'],
  'intranet.example': ['10.0.0.1'],
  'loop6.example': ['::1'],
  'mixed.example': ['93.184.215.14', '10.0.0.1'],
  'public.example': ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
});
const strict = { allowPrivate: false, resolve: resolver };

describe('webhook target validation (SSRF)', () => {
  it.each([
    'http://169.254.169.254/latest/meta-data',
    'http://10.0.0.1/hook',
    'http://[::1]:8080/hook',
    'http://127.0.0.1/hook',
    'http://[::ffff:169.254.169.254]/hook',
    'http://[fe80::1]/hook',
    'http://192.168.1.10/hook',
    'http://0.0.0.0/hook',
  ])('refuses the address literal %s', async (url) => {
    await expect(checkWebhookTarget(url, strict)).rejects.toBeInstanceOf(WebhookTargetRefused);
  });

  it.each(['metadata.example', 'intranet.example', 'loop6.example', 'mixed.example'])(
    'refuses %s, a name resolving to a private address',
    async (host) => {
      await expect(checkWebhookTarget(`https://${host}/hook`, strict)).rejects.toThrow(/not allowed/);
      expect(resolver.asked).toContain(host);
    },
  );

  it('accepts a name whose every address is public', async () => {
    const url = await checkWebhookTarget('https://public.example/hook?x=1', strict);
    expect(url.hostname).toBe('public.example');
  });

  it('refuses names that do not resolve, other schemes and credentials', async () => {
    await expect(checkWebhookTarget('https://nowhere.example/', strict)).rejects.toThrow(/does not resolve/);
    await expect(checkWebhookTarget('ftp://public.example/', strict)).rejects.toThrow(/http and https/);
    await expect(checkWebhookTarget('https://u:p@public.example/', strict)).rejects.toThrow(/credentials/);
    await expect(checkWebhookTarget('not a url', strict)).rejects.toThrow(/not a URL/);
  });

  it('allows private targets when WEBHOOK_ALLOW_PRIVATE is set, without resolving', async () => {
    const lenient = stubResolver({});
    await expect(
      checkWebhookTarget('http://10.0.0.1/hook', { allowPrivate: true, resolve: lenient }),
    ).resolves.toBeInstanceOf(URL);
    expect(lenient.asked).toEqual([]);
  });

  it('classifies addresses', () => {
    expect(isPrivateAddress('169.254.169.254')).toBe(true);
    expect(isPrivateAddress('10.0.0.1')).toBe(true);
    expect(isPrivateAddress('::1')).toBe(true);
    expect(isPrivateAddress('fd12::1')).toBe(true);
    expect(isPrivateAddress('8.8.8.8')).toBe(false);
    expect(isPrivateAddress('2001:4860:4860::8888')).toBe(false);
    expect(isPrivateAddress('nonsense')).toBe(true);
  });
});
