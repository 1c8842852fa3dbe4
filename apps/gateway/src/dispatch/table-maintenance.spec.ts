import type { Logger } from '@switchyard/observability';
import type { HotTable, TableChurn } from '@switchyard/persistence';
import {
  maintenanceDue,
  MIN_VACUUM_INTERVAL_MS,
  TableMaintenance,
  type MaintenanceStore,
} from './table-maintenance';

function churn(overrides: Partial<TableChurn> = {}): TableChurn {
  return {
    table: 'jobs',
    live: 0,
    dead: 0,
    insertedSinceVacuum: 0,
    modifiedSinceAnalyze: 0,
    // As analyzed at its present size, unless a test says otherwise.
    planned: overrides.live ?? 0,
    ...overrides,
  };
}

class FakeStore implements MaintenanceStore {
  allowed = true;
  tables: TableChurn[] = [];
  vacuums: { table: HotTable; analyze: boolean }[] = [];
  failing: Error | undefined;
  mayVacuum = jest.fn(() => Promise.resolve(this.allowed));
  churn = jest.fn(() => (this.failing ? Promise.reject(this.failing) : Promise.resolve(this.tables)));
  vacuum = jest.fn((table: HotTable, analyze: boolean) => {
    this.vacuums.push({ table, analyze });
    return Promise.resolve();
  });
}

const logger = () =>
  ({ warn: jest.fn(), info: jest.fn(), debug: jest.fn(), error: jest.fn() }) as unknown as Logger;

describe('maintenanceDue', () => {
  it('vacuums past VACUUM_DEAD_ROWS plus 2 % of the live rows, dead or newly inserted', () => {
    expect(maintenanceDue(churn({ live: 100_000, dead: 7000 }), 5000)).toEqual({
      vacuum: false,
      analyze: false,
    });
    expect(maintenanceDue(churn({ live: 100_000, dead: 7001 }), 5000)).toEqual({
      vacuum: true,
      analyze: false,
    });
    expect(maintenanceDue(churn({ live: 0, insertedSinceVacuum: 5001 }), 5000).vacuum).toBe(true);
    expect(maintenanceDue(churn({ live: 1_000_000, dead: 20_000 }), 5000).vacuum).toBe(false);
  });

  it('analyzes with the vacuum once VACUUM_DEAD_ROWS plus 5 % of the live rows changed', () => {
    expect(maintenanceDue(churn({ live: 100_000, modifiedSinceAnalyze: 10_000 }), 5000).analyze).toBe(false);
    expect(maintenanceDue(churn({ live: 100_000, modifiedSinceAnalyze: 10_001 }), 5000)).toEqual({
      vacuum: true,
      analyze: true,
    });
  });

  it('analyzes a table that grew past twice the rows its plans were made for, long before 5 % changed', () => {
    // A new table: never analyzed (reltuples -1), its first thousand rows are not worth a plan of their own.
    expect(maintenanceDue(churn({ live: 1000, planned: -1, modifiedSinceAnalyze: 1000 }), 5000).analyze).toBe(
      false,
    );
    expect(maintenanceDue(churn({ live: 1001, planned: -1, modifiedSinceAnalyze: 1001 }), 5000)).toEqual({
      vacuum: true,
      analyze: true,
    });
    // Analyzed at 1,001 rows: the next analyze for growth alone comes past 3,002.
    expect(
      maintenanceDue(churn({ live: 3002, planned: 1001, modifiedSinceAnalyze: 2001 }), 5000).analyze,
    ).toBe(false);
    expect(
      maintenanceDue(churn({ live: 3003, planned: 1001, modifiedSinceAnalyze: 2002 }), 5000).analyze,
    ).toBe(true);
    // A large table that shrank, or grew within twice its counted rows, is left to the change rule.
    expect(maintenanceDue(churn({ live: 150_000, planned: 100_000 }), 5000).analyze).toBe(false);
    expect(maintenanceDue(churn({ live: 10, planned: 100_000 }), 5000).analyze).toBe(false);
  });
});

describe('TableMaintenance', () => {
  it('vacuums each table its statistics call for, with an analyze when due, and reports it', async () => {
    const store = new FakeStore();
    store.tables = [
      churn({ table: 'jobs', live: 100_000, dead: 9000, modifiedSinceAnalyze: 20_000 }),
      churn({ table: 'outbox', live: 10, dead: 100 }),
    ];
    const seen: string[] = [];
    const maintenance = new TableMaintenance(store, { deadRows: 5000 }, logger(), (table, analyze) =>
      seen.push(`${table}:${analyze}`),
    );
    await maintenance.check();
    expect(store.vacuums).toEqual([{ table: 'jobs', analyze: true }]);
    expect(seen).toEqual(['jobs:true']);
  });

  it('does not vacuum one table again within the least interval, however fast rows die', async () => {
    let now = 1_000_000;
    const store = new FakeStore();
    store.tables = [churn({ table: 'outbox', dead: 50_000 })];
    const maintenance = new TableMaintenance(store, { deadRows: 5000, now: () => now }, logger());
    await maintenance.check();
    now += MIN_VACUUM_INTERVAL_MS - 1;
    await maintenance.check();
    expect(store.vacuums).toHaveLength(1);
    now += 1;
    await maintenance.check();
    expect(store.vacuums).toHaveLength(2);
  });

  it('is off with VACUUM_DEAD_ROWS=0 and when the role does not own the tables', async () => {
    jest.useFakeTimers();
    try {
      const off = new FakeStore();
      await new TableMaintenance(off, { deadRows: 0 }, logger()).start();
      expect(off.mayVacuum).not.toHaveBeenCalled();

      const notOwner = new FakeStore();
      notOwner.allowed = false;
      notOwner.tables = [churn({ dead: 1_000_000 })];
      const log = logger();
      const maintenance = new TableMaintenance(notOwner, { deadRows: 5000, checkMs: 10 }, log);
      await maintenance.start();
      jest.advanceTimersByTime(100);
      expect(notOwner.churn).not.toHaveBeenCalled();
      expect(log.info).toHaveBeenCalledWith(expect.stringContaining('does not own'));
      await maintenance.stop();
    } finally {
      jest.useRealTimers();
    }
  });

  it('checks on its timer once started and stops checking when stopped', async () => {
    jest.useFakeTimers();
    try {
      const store = new FakeStore();
      store.tables = [churn({ dead: 1_000_000 })];
      const maintenance = new TableMaintenance(store, { deadRows: 5000, checkMs: 10 }, logger());
      await maintenance.start();
      expect(store.churn).not.toHaveBeenCalled();
      await jest.advanceTimersByTimeAsync(10);
      expect(store.churn).toHaveBeenCalledTimes(1);
      await maintenance.stop();
      await jest.advanceTimersByTimeAsync(100);
      expect(store.churn).toHaveBeenCalledTimes(1);
    } finally {
      jest.useRealTimers();
    }
  });

  it('logs a failing check at most once per 10 s and keeps checking', async () => {
    let now = 0;
    const store = new FakeStore();
    store.failing = new Error('connection refused');
    const log = logger();
    const maintenance = new TableMaintenance(store, { deadRows: 5000, now: () => now }, log);
    await maintenance.check();
    await maintenance.check();
    expect(log.warn).toHaveBeenCalledTimes(1);
    now += 10_000;
    await maintenance.check();
    expect(log.warn).toHaveBeenCalledTimes(2);
    store.failing = undefined;
    store.tables = [churn({ dead: 1_000_000 })];
    await maintenance.check();
    expect(store.vacuums).toHaveLength(1);
  });
});
