import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Pool } from 'pg';

/** Helpers of the fault tests that stop a dependency and check nothing ran twice. */

const run = promisify(execFile);

/** Stops (fast) or starts the local PostgreSQL cluster; a test that stops it starts it in `finally`. */
export function pgctl(action: 'stop' | 'start'): Promise<unknown> {
  const cluster = readdirSync('/etc/postgresql')[0] ?? '';
  return run('pg_ctlcluster', [
    '--skip-systemctl-redirect',
    cluster,
    'main',
    action,
    ...(action === 'stop' ? ['-m', 'fast'] : []),
  ]);
}

/**
 * No job ran twice at once: in each job's history, a `started` is always followed by the end of
 * that attempt (completed, retrying, queued, failed, cancelled) before the next `started`.
 * Returns how many jobs started at least once.
 */
export async function expectNoOverlappingAttempts(db: Pool, ids: string[]): Promise<number> {
  const { rows } = await db.query<{ job_id: string; event: string }>(
    `SELECT job_id, event FROM job_events WHERE job_id = ANY($1::uuid[]) ORDER BY job_id, seq`,
    [ids],
  );
  const open = new Map<string, boolean>();
  const overlapping: string[] = [];
  for (const row of rows) {
    if (row.event === 'started') {
      if (open.get(row.job_id)) overlapping.push(row.job_id);
      open.set(row.job_id, true);
    } else if (row.event !== 'progress') {
      open.set(row.job_id, false);
    }
  }
  expect(overlapping).toEqual([]);
  return new Set(rows.filter((r) => r.event === 'started').map((r) => r.job_id)).size;
}
