import { parseProvidersFile, ProvidersFileError } from './providers-file';

describe('parseProvidersFile', () => {
  it('fills in the SPEC defaults for timeouts, breakers and methods', () => {
    const parsed = parseProvidersFile(
      JSON.stringify({
        providers: { acme: { baseUrl: 'https://api.acme.test', operations: { tts: { path: '/v1/tts' } } } },
      }),
      false,
    );
    expect(parsed.providers['acme']).toEqual({
      baseUrl: 'https://api.acme.test',
      timeoutMs: 30000,
      maxResponseBytes: 52428800,
      breaker: { failureThreshold: 50, volumeThreshold: 5, rollingWindowMs: 300000, resetTimeoutMs: 600000 },
      operations: { tts: { path: '/v1/tts', method: 'POST' } },
    });
  });

  it('reads YAML with auth and polling', () => {
    const parsed = parseProvidersFile(
      `
providers:
  acme:
    baseUrl: http://127.0.0.1:9000
    auth: { header: Authorization, secretEnv: ACME_KEY, scheme: Bearer }
    breaker: { volumeThreshold: 2 }
    operations:
      music:
        path: /v1/music
        poll: { statusPath: "/v1/jobs/{id}", doneField: status, doneValue: done, resultField: output }
`,
      true,
    );
    const acme = parsed.providers['acme'];
    expect(acme.auth).toEqual({ header: 'Authorization', secretEnv: 'ACME_KEY', scheme: 'Bearer' });
    expect(acme.breaker).toMatchObject({ volumeThreshold: 2, failureThreshold: 50 });
    expect(acme.operations['music'].poll).toEqual({
      statusPath: '/v1/jobs/{id}',
      intervalMs: 2000,
      idField: 'id',
      doneField: 'status',
      doneValue: 'done',
      resultField: 'output',
    });
  });

  it('names every problem', () => {
    const bad = {
      providers: {
        acme: {
          baseUrl: 'ftp://x',
          auth: { header: 'Authorization', secretEnv: 'not a name' },
          operations: {
            tts: { path: 'v1/tts', poll: { statusPath: '/no-id', doneField: 'x', resultField: 'y' } },
          },
        },
      },
    };
    expect(() => parseProvidersFile(JSON.stringify(bad), false)).toThrow(ProvidersFileError);
    const message = (() => {
      try {
        parseProvidersFile(JSON.stringify(bad), false);
        return '';
      } catch (e) {
        return (e as Error).message;
      }
    })();
    for (const path of [
      '/providers/acme/baseUrl',
      '/providers/acme/auth/secretEnv',
      '/operations/tts/path',
      '/poll/statusPath',
    ]) {
      expect(message).toContain(path);
    }
    expect(() => parseProvidersFile('{', false)).toThrow('not valid JSON');
  });
});
