import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from './cli.errors';
import { colourEnabled, loadSettings } from './settings';

describe('settings', () => {
  const home = mkdtempSync(join(tmpdir(), 'switchyard-settings-'));
  const configFile = join(home, '.config', 'switchyard', 'config.json');
  mkdirSync(join(home, '.config', 'switchyard'), { recursive: true });
  writeFileSync(
    configFile,
    JSON.stringify({ url: 'http://file:4000', apiKey: 'from-file', redisUrl: 'redis://file:6380' }),
  );

  it('uses defaults when nothing is configured', () => {
    const s = loadSettings({}, { HOME: join(home, 'nobody') });
    expect(s.url).toBe('http://127.0.0.1:3000');
    expect(s.apiKey).toBeUndefined();
    expect(s.services).toEqual({
      gateway: 'http://127.0.0.1:3000',
      worker: 'http://127.0.0.1:3001',
      'progress-tracker': 'http://127.0.0.1:3002',
      metrics: 'http://127.0.0.1:3003',
    });
    expect(s.dependencies.redis).toBe('redis://127.0.0.1:6379');
  });

  it('reads ~/.config/switchyard/config.json, overridden by the environment, overridden by flags', () => {
    expect(loadSettings({}, { HOME: home })).toMatchObject({
      url: 'http://file:4000',
      apiKey: 'from-file',
      configFile,
    });
    expect(
      loadSettings({}, { HOME: home, SWITCHYARD_URL: 'http://env:5000', SWITCHYARD_API_KEY: 'from-env' }),
    ).toMatchObject({
      url: 'http://env:5000',
      apiKey: 'from-env',
    });
    const s = loadSettings(
      { url: 'http://flag:6000/api/v1/', redisUrl: 'redis://flag:1' },
      { HOME: home, SWITCHYARD_URL: 'http://env:5000' },
    );
    expect(s.url).toBe('http://flag:6000');
    expect(s.services.worker).toBe('http://flag:3001');
    expect(s.dependencies.redis).toBe('redis://flag:1');
  });

  it('reads the file named by SWITCHYARD_CONFIG or --config, which must exist', () => {
    const other = join(home, 'other.json');
    writeFileSync(other, '{"apiKey": "other"}');
    expect(loadSettings({}, { HOME: home, SWITCHYARD_CONFIG: other }).apiKey).toBe('other');
    expect(() => loadSettings({ config: join(home, 'missing.json') }, { HOME: home })).toThrow(UsageError);
  });

  it('names the problem in a bad config file', () => {
    const bad = join(home, 'bad.json');
    writeFileSync(bad, '{"url": 3000}');
    expect(() => loadSettings({ config: bad }, {})).toThrow(`config file ${bad}: "url" must be a string`);
    writeFileSync(bad, '{"ulr": "x"}');
    expect(() => loadSettings({ config: bad }, {})).toThrow('unknown key "ulr"');
    expect(() => loadSettings({ url: 'localhost:3000' }, { HOME: join(home, 'nobody') })).toThrow(
      'url "localhost:3000" must start with http:// or https://, e.g. http://localhost:3000',
    );
  });

  it('colours only a terminal, and never with NO_COLOR or --no-color', () => {
    expect(colourEnabled({}, true, [])).toBe(true);
    expect(colourEnabled({}, false, [])).toBe(false);
    expect(colourEnabled({ NO_COLOR: '1' }, true, [])).toBe(false);
    expect(colourEnabled({}, true, ['list', '--no-color'])).toBe(false);
  });
});
