import { normaliseWebhookUrl } from '../jobs/submission.validator';
import { unregisteredOrigin } from './webhook-targets';

describe('a job’s webhookUrl: registered origins only', () => {
  const registered = new Set(['https://app.example.com', 'http://127.0.0.1:8080']);

  it.each([
    'https://app.example.com/hooks/job-1',
    'https://APP.example.com:443/other?x=1',
    'https://app.example.com',
    'http://127.0.0.1:8080/anything',
  ])('accepts %s, on the origin of an enabled endpoint', (url) => {
    expect(unregisteredOrigin(url, registered)).toBeNull();
  });

  it.each([
    ['http://app.example.com/hooks', 'http://app.example.com'], // another scheme
    ['https://app.example.com:8443/hooks', 'https://app.example.com:8443'], // another port
    ['https://evil.app.example.com/hooks', 'https://evil.app.example.com'], // a subdomain
    ['https://app.example.com.evil.test/hooks', 'https://app.example.com.evil.test'], // a suffix
    ['http://127.0.0.1:8081/', 'http://127.0.0.1:8081'],
  ])('refuses %s, naming its origin', (url, origin) => {
    expect(unregisteredOrigin(url, registered)).toContain(`origin ${origin} is not the origin`);
  });

  it('refuses what is not a URL', () => {
    expect(unregisteredOrigin('app.example.com/hooks', registered)).toBe('is not a URL');
  });

  it('normalises the submitted URL: http(s) only, no credentials, no fragment, at most 2048 characters', () => {
    expect(normaliseWebhookUrl('HTTPS://App.Example.com:443/a b?q=1#frag')).toBe(
      'https://app.example.com/a%20b?q=1',
    );
    expect(normaliseWebhookUrl('ftp://app.example.com/x')).toEqual({
      refused: 'must be an http or https URL',
    });
    expect(normaliseWebhookUrl('https://user:pw@app.example.com/x')).toEqual({
      refused: 'must not carry credentials',
    });
    expect(normaliseWebhookUrl('not a url')).toEqual({ refused: 'is not a URL' });
    expect(normaliseWebhookUrl(`https://app.example.com/${'a'.repeat(2100)}`)).toEqual({
      refused: 'must be at most 2048 characters',
    });
  });
});
