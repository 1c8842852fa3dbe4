import { closedPort, FakeApi } from '../test/fake-api';
import { runCli } from '../test/run-cli';
import { EXIT } from './cli.errors';

describe('switchyard doctor', () => {
  let api: FakeApi;
  let redisPort: number;

  const redisDown = {
    status: 503,
    body: {
      status: 'unavailable',
      checks: {
        postgres: { status: 'up' },
        rabbitmq: { status: 'up' },
        redis: { status: 'down', error: 'connect ECONNREFUSED' },
      },
    },
  };

  /** Every service's health at the fake API; PostgreSQL and RabbitMQ probed at a port that listens. */
  const everything = (redisUrl: string): string[] => [
    'doctor',
    '--worker-url',
    api.url,
    '--tracker-url',
    api.url,
    '--metrics-url',
    api.url,
    '--database-url',
    `postgres://postgres:secret@127.0.0.1:${api.port}/switchyard`,
    '--amqp-url',
    `amqp://guest:guest@127.0.0.1:${api.port}`,
    '--redis-url',
    redisUrl,
  ];

  beforeEach(async () => {
    redisPort = await closedPort();
  });
  afterEach(() => api.stop());

  it('names Redis and how to start it, and exits non-zero, when Redis is unreachable', async () => {
    api = await new FakeApi({ apiKey: 'sk', health: redisDown }).start();
    const out = await runCli(everything(`redis://127.0.0.1:${redisPort}`), {
      SWITCHYARD_URL: api.url,
      SWITCHYARD_API_KEY: 'sk',
    });
    expect(out.code).toBe(EXIT.error);
    expect(out.stdout).toMatch(
      new RegExp(`✖ Redis\\s+127\\.0\\.0\\.1:${redisPort}\\s+unreachable: ECONNREFUSED`),
    );
    expect(out.stdout).toMatch(/✔ PostgreSQL/);
    expect(out.stdout).toMatch(/✖ worker\s.*not ready: Redis down \(connect ECONNREFUSED\)/);
    expect(out.stdout).toContain(`Redis is not running on 127.0.0.1:${redisPort} (REDIS_URL). Start it:`);
    // One fix for Redis, not one per service that needs it.
    expect(
      out.stdout.split(
        `redis-server --daemonize yes --bind 127.0.0.1 -::1 --port ${redisPort} --save "" --appendonly no`,
      ),
    ).toHaveLength(2);
    expect(out.stdout).toContain('docker compose up -d redis');
    expect(out.stdout).toContain('5 problems. To fix:');
    expect(out.stdout).not.toContain('secret');
  });

  it('exits 0 when everything is up', async () => {
    api = await new FakeApi({ apiKey: 'sk' }).start();
    const out = await runCli(everything(`redis://127.0.0.1:${api.port}`), {
      SWITCHYARD_URL: api.url,
      SWITCHYARD_API_KEY: 'sk',
    });
    expect(out.stdout).toContain('everything is up');
    expect(out.code).toBe(EXIT.ok);
  });

  it('says to start the services when none is running', async () => {
    api = await new FakeApi().start();
    const nothing = `http://127.0.0.1:${await closedPort()}`;
    const out = await runCli(
      [
        'doctor',
        '--worker-url',
        nothing,
        '--tracker-url',
        nothing,
        '--metrics-url',
        nothing,
        '--redis-url',
        `redis://127.0.0.1:${api.port}`,
        '--database-url',
        `postgres://127.0.0.1:${api.port}/x`,
        '--amqp-url',
        `amqp://127.0.0.1:${api.port}`,
      ],
      { SWITCHYARD_URL: nothing },
    );
    expect(out.code).toBe(EXIT.error);
    expect(out.stdout).toMatch(/✖ gateway\s.*not running: ECONNREFUSED/);
    expect(out.stdout).toContain('no Switchyard service is running: start all four with');
    expect(out.stdout.match(/npm start/g)).toHaveLength(1);
  });

  it('reports a rejected API key with where to set one', async () => {
    api = await new FakeApi({ apiKey: 'right' }).start();
    const out = await runCli(everything(`redis://127.0.0.1:${api.port}`), {
      SWITCHYARD_URL: api.url,
      SWITCHYARD_API_KEY: 'wrong',
    });
    expect(out.code).toBe(EXIT.error);
    expect(out.stdout).toMatch(/✖ API key\s.*the API key was rejected/);
    expect(out.stdout).toContain('SWITCHYARD_API_KEY');
  });

  it('prints every check as JSON with --json', async () => {
    api = await new FakeApi({ apiKey: 'sk', health: redisDown }).start();
    const out = await runCli([...everything(`redis://127.0.0.1:${redisPort}`), '--json'], {
      SWITCHYARD_URL: api.url,
      SWITCHYARD_API_KEY: 'sk',
    });
    expect(out.code).toBe(EXIT.error);
    const report = JSON.parse(out.stdout) as {
      ok: boolean;
      checks: { name: string; ok: boolean; fix: string[] }[];
    };
    expect(report.ok).toBe(false);
    const redis = report.checks.find((c) => c.name === 'Redis');
    expect(redis).toMatchObject({ ok: false, target: `127.0.0.1:${redisPort}` });
    expect(redis?.fix.join('\n')).toContain('redis-server --daemonize yes');
    expect(report.checks.filter((c) => c.ok).map((c) => c.name)).toEqual([
      'PostgreSQL',
      'RabbitMQ',
      'API key',
    ]);
  });
});
