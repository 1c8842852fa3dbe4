import { readFileSync } from 'node:fs';
import type { Client } from 'pg';

const CLOCK_TICKS = 100; // getconf CLK_TCK on Linux

/** utime + stime of a process in ms and its start time (clock ticks since boot), or undefined once it exited. */
function cpuAndStart(pid: number): { cpuMs: number; start: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: utime, stime are the 12th and 13th, starttime the 20th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return {
      cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS,
      start: fields[19] ?? '',
    };
  } catch {
    return undefined;
  }
}

/**
 * CPU time of the PostgreSQL backends serving one database, accumulated per backend: the
 * services' pools close idle connections and open new ones within a window, so two snapshots of
 * the backends alive at either end would miss what the ones in between used. The backends are
 * found from /proc without asking PostgreSQL (the postmaster's children whose process title names
 * the database), so sampling costs the services nothing; where /proc does not list children, it
 * falls back to `pg_stat_activity` at most every 2 s. The backend of the bench's own connection
 * (its polling queries) is booked apart, to the bench.
 */
export class PgBackendCpu {
  /** Per backend (pid and start time, as pids are reused): CPU ms seen so far; null when not of this database. */
  private readonly seen = new Map<string, number | null>();
  /** CPU ms of this database's backends other than the bench's. */
  servicesMs = 0;
  /** CPU ms of the bench's own backend (`ownPid`). */
  benchMs = 0;
  private running: Promise<void> = Promise.resolve();
  private lastQueryAt = 0;

  private constructor(
    private readonly db: Client,
    private readonly database: string,
    private readonly ownPid: number,
    private readonly postmasterPid: number | undefined,
  ) {}

  /** For the database `db` is connected to; `db` is the bench's own connection. */
  static async of(db: Client): Promise<PgBackendCpu> {
    const { rows } = await db.query<{ pid: number; database: string }>(
      'SELECT pg_backend_pid() AS pid, current_database() AS database',
    );
    const { pid, database } = rows[0] ?? { pid: 0, database: '' };
    let postmaster: number | undefined;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const parent = Number(/PPid:\s+(\d+)/.exec(status)?.[1] ?? 0);
      readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8');
      postmaster = parent;
    } catch {
      postmaster = undefined; // PostgreSQL elsewhere, or no children list: pg_stat_activity
    }
    const cpu = new PgBackendCpu(db, database, pid, postmaster);
    await cpu.sample();
    return cpu;
  }

  /** Adds what every backend of the database used since the last sample. */
  sample(): Promise<void> {
    this.running = this.running.then(() => this.sampleOnce()).catch(() => undefined);
    return this.running;
  }

  private async backends(): Promise<number[]> {
    if (this.postmasterPid !== undefined) {
      const pm = this.postmasterPid;
      return readFileSync(`/proc/${pm}/task/${pm}/children`, 'utf8').trim().split(/\s+/).map(Number);
    }
    if (Date.now() - this.lastQueryAt < 2000)
      return [...this.seen.keys()].map((k) => Number(k.split(':')[0]));
    this.lastQueryAt = Date.now();
    const { rows } = await this.db.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE datname = current_database()',
    );
    return rows.map((r) => r.pid);
  }

  private async sampleOnce(): Promise<void> {
    const pids = new Set(await this.backends());
    pids.add(this.ownPid);
    for (const key of this.seen.keys()) if (!pids.has(Number(key.split(':')[0]))) this.seen.delete(key);
    for (const pid of pids) {
      if (!(pid > 0)) continue;
      const now = cpuAndStart(pid);
      if (!now) continue;
      const key = `${pid}:${now.start}`;
      let before = this.seen.get(key);
      if (before === undefined) {
        // A backend not seen yet: is it one of this database's? (Its title: "postgres: … user db host state".)
        const ours = pid === this.ownPid || this.isOurs(pid);
        before = ours ? 0 : null;
      }
      if (before === null) {
        this.seen.set(key, null);
        continue;
      }
      const used = Math.max(0, now.cpuMs - before);
      if (pid === this.ownPid) this.benchMs += used;
      else this.servicesMs += used;
      this.seen.set(key, now.cpuMs);
    }
  }

  private isOurs(pid: number): boolean {
    if (this.postmasterPid === undefined) return true; // listed by pg_stat_activity for this database
    try {
      const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      return title.includes(` ${this.database} `);
    } catch {
      return false;
    }
  }
}
