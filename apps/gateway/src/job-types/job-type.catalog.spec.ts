import pino from 'pino';
import { HandlerRegistry, type AnyJobTypeDefinition } from '@switchyard/handler-sdk';
import type { JobTypesRepository } from '@switchyard/persistence';
import { JobTypeCatalog } from './job-type.catalog';

/** job_types as workers registered them; `list` counts the reloads. */
function registeredTypes() {
  const rows: { type: string; queue: string; payloadSchema: unknown; defaults: unknown; source: string }[] =
    [];
  let reloads = 0;
  const repository = {
    list: () => {
      reloads++;
      return Promise.resolve([...rows]);
    },
  } as unknown as JobTypesRepository;
  return {
    repository,
    reloads: () => reloads,
    add: (type: string) =>
      rows.push({ type, queue: 'default', payloadSchema: {}, defaults: {}, source: 'test' }),
  };
}

function catalog(repository: JobTypesRepository) {
  const registry = new HandlerRegistry<AnyJobTypeDefinition>([], ['default']);
  return { registry, catalog: new JobTypeCatalog(registry, pino({ level: 'silent' }), repository) };
}

describe('JobTypeCatalog.ensureKnown', () => {
  it('accepts a type a worker registered just after the last reload (waits for the next one, < 1 s)', async () => {
    const types = registeredTypes();
    const { registry, catalog: known } = catalog(types.repository);
    await known.refresh();
    types.add('test.fresh');
    const started = Date.now();
    await known.ensureKnown(['test.fresh']);
    expect(registry.get('test.fresh')).toBeDefined();
    expect(Date.now() - started).toBeLessThan(1500);
    expect(types.reloads()).toBe(2);
  });

  it('reloads when its wait ends, even if the timer fires before Date.now() has moved a full interval', async () => {
    const types = registeredTypes();
    const { registry, catalog: known } = catalog(types.repository);
    let clock = 1_000_000;
    const now = jest.spyOn(Date, 'now').mockImplementation(() => clock);
    try {
      await known.refresh();
      types.add('test.fresh');
      clock += 10;
      const waiting = known.ensureKnown(['test.fresh']);
      // The timer (990 ms, real) fires while the clock reads one millisecond short of the interval.
      clock += 989;
      await waiting;
      expect(registry.get('test.fresh')).toBeDefined();
      expect(types.reloads()).toBe(2);
    } finally {
      now.mockRestore();
    }
  });

  it('reloads at most once per interval for a burst of unknown types', async () => {
    const types = registeredTypes();
    const { catalog: known } = catalog(types.repository);
    await known.refresh();
    await Promise.all(Array.from({ length: 20 }, (_, i) => known.ensureKnown([`nope.${i}`])));
    expect(types.reloads()).toBe(2);
  });

  it('answers at once for types it knows', async () => {
    const types = registeredTypes();
    types.add('test.known');
    const { catalog: known } = catalog(types.repository);
    await known.refresh();
    const started = Date.now();
    await known.ensureKnown(['test.known']);
    expect(Date.now() - started).toBeLessThan(50);
    expect(types.reloads()).toBe(1);
  });
});
