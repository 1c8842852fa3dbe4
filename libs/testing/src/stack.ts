import { DEV_ADMIN_API_KEY } from '@switchyard/config';
import { TestApi } from './api-client';
import {
  createTestDatabase,
  removeAmqpPrefix,
  removeRedisPrefix,
  testRunId,
  TEST_SERVICES,
  type TestDatabase,
} from './isolation';
import { freePort, migrateWithBuiltEntry, ServiceProcess, type ServiceName } from './service-process';

/** The four services as processes against one isolated database, AMQP prefix and Redis prefix. */
export class TestStack {
  readonly services = new Map<ServiceName, ServiceProcess>();
  /** Extra processes (more workers, a second gateway) started with `spawn`. */
  readonly extra: ServiceProcess[] = [];

  private constructor(
    readonly id: string,
    readonly db: TestDatabase,
    readonly env: Record<string, string>,
    /** Environment of one service only, over `env` (e.g. the bench's per-service NODE_OPTIONS). */
    readonly serviceEnv: Partial<Record<ServiceName, Record<string, string>>> = {},
  ) {}

  static async create(
    extraEnv: Record<string, string> = {},
    serviceEnv: Partial<Record<ServiceName, Record<string, string>>> = {},
  ): Promise<TestStack> {
    const id = testRunId();
    const db = await createTestDatabase(migrateWithBuiltEntry, id);
    const env = {
      NODE_ENV: 'test',
      DATABASE_URL: db.url,
      AMQP_URL: TEST_SERVICES.amqp,
      AMQP_PREFIX: id,
      REDIS_URL: TEST_SERVICES.redis,
      REDIS_PREFIX: `${id}:`,
      ARTIFACTS_DIR: `tmp/${id}/artifacts`,
      MEDIA_ROOT: `tmp/${id}/media`,
      UPLOADS_DIR: `tmp/${id}/uploads`,
      LOG_LEVEL: 'info',
      // Tests drive far more requests per key than SPEC §4's defaults allow; tests of the limits
      // and quotas themselves set their own values.
      RATE_LIMIT_WRITE_PER_MIN: '1000000',
      RATE_LIMIT_READ_PER_MIN: '1000000',
      RATE_LIMIT_BURST: '100000',
      TENANT_MAX_ACTIVE_JOBS: '1000000',
      ...extraEnv,
    };
    return new TestStack(id, db, env, serviceEnv);
  }

  get redisPrefix(): string {
    return this.env['REDIS_PREFIX'] ?? '';
  }

  /** The gateways' bootstrap admin key: ADMIN_API_KEY when the stack sets one, else the dev key. */
  get adminKey(): string {
    return this.env['ADMIN_API_KEY'] || DEV_ADMIN_API_KEY;
  }

  /** A client of `gateway` (the stack's gateway by default) authenticated with `key` (the admin key by default). */
  api(key: string = this.adminKey, gateway: ServiceProcess = this.service('gateway')): TestApi {
    return new TestApi(gateway.url, { authorization: `Bearer ${key}` });
  }

  /** Creates an API key through the admin API; returns its id and the key itself. */
  async createApiKey(
    tenant: string,
    scopes: string[] = ['jobs:read', 'jobs:write'],
    name = `${tenant} test key`,
  ): Promise<{ id: string; key: string }> {
    const response = await this.api().post<{ id: string; key: string }>('/admin/api-keys', {
      tenant,
      name,
      scopes,
    });
    if (response.status !== 201) {
      throw new Error(`creating a key answered ${response.status}: ${JSON.stringify(response.body)}`);
    }
    return response.body;
  }

  service(name: ServiceName): ServiceProcess {
    const service = this.services.get(name);
    if (!service) throw new Error(`${name} was not started`);
    return service;
  }

  /** Starts the given services (all four by default) in parallel and waits until each is ready. */
  async start(
    names: ServiceName[] = ['gateway', 'worker', 'progress-tracker', 'metrics'],
    env: Record<string, string> = {},
  ): Promise<void> {
    const started = await Promise.all(
      names.map(async (name) => new ServiceProcess(name, await freePort(), this.envOf(name, env))),
    );
    for (const s of started) this.services.set(s.name, s);
    await Promise.all(started.map((s) => s.start()));
  }

  /** Starts one more process of a service (e.g. a second worker) with extra environment. */
  async spawn(name: ServiceName, env: Record<string, string> = {}): Promise<ServiceProcess> {
    const process = new ServiceProcess(name, await freePort(), this.envOf(name, env));
    this.extra.push(process);
    await process.start();
    return process;
  }

  private envOf(name: ServiceName, env: Record<string, string>): Record<string, string> {
    return { ...this.env, ...this.serviceEnv[name], ...env };
  }

  /** Stops every process, then removes the database, queues, exchanges and keys of this run. */
  async destroy(): Promise<void> {
    await Promise.all([...this.services.values(), ...this.extra].map((s) => s.stop('SIGTERM')));
    await Promise.allSettled([
      this.db.drop(),
      // A stack on a broker of its own (a test cluster) leaves the machine's broker alone; the
      // test removes its broker.
      this.env['AMQP_URL'] === TEST_SERVICES.amqp ? removeAmqpPrefix(this.id) : Promise.resolve(),
      removeRedisPrefix(this.redisPrefix),
    ]);
  }
}
