// `npm run test:tools`: each running service's /metrics checked by `promtool check metrics`
// itself (Debian/Ubuntu package `prometheus`); metrics-scrape.e2e.ts checks the same rules
// without it (lintExposition).
import { TestStack, type ServiceName } from '@switchyard/testing';
import { promtoolCheckMetrics, scrape } from './support/exposition';

jest.setTimeout(120_000);

const SERVICES: ServiceName[] = ['gateway', 'worker', 'progress-tracker', 'metrics'];

describe('metrics of the running services, by promtool', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await TestStack.create();
    await stack.start(SERVICES);
  });

  afterAll(async () => {
    await stack?.destroy();
  });

  it('each scrape passes promtool check metrics', async () => {
    for (const name of SERVICES) {
      const { status, output } = promtoolCheckMetrics((await scrape(stack.service(name).url)).text);
      expect([name, status, output]).toEqual([name, 0, '']);
    }
  });

  it('promtool rejects a malformed exposition', () => {
    expect(promtoolCheckMetrics('# TYPE switchyard_x_total gauge\nswitchyard_x_total 1\n').status).not.toBe(
      0,
    );
  });
});
