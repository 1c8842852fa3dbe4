import Table from 'cli-table3';
import type { JobStatus, JobSummary, JobView } from '@switchyard/contracts';
import type { Style } from './output';

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** ISO time to a compact UTC form that still sorts and copies well. */
export function formatTime(iso: string | null | undefined): string {
  if (iso === null || iso === undefined || iso === '') return '-';
  const d = new Date(iso);
  return Number.isNaN(d.getTime())
    ? iso
    : d
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z');
}

export function paintStatus(status: JobStatus, style: Style): string {
  switch (status) {
    case 'completed':
      return style.green(status);
    case 'failed':
      return style.red(status);
    case 'cancelled':
      return style.yellow(status);
    case 'running':
    case 'retrying':
      return style.cyan(status);
    case 'scheduled':
    case 'waiting':
    case 'queued':
      return status;
  }
}

export function paintLevel(level: string, style: Style): string {
  if (level === 'critical') return style.red(level);
  if (level === 'warning') return style.yellow(level);
  if (level === 'ok') return style.green(level);
  return level;
}

export function compactJson(value: unknown, max = 200): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A table with no colour codes of its own: colour, when wanted, is already in the cells. */
export function table(head: string[], rows: (string | number)[][], style: Style): string {
  const t = new Table({
    head: head.map((h) => style.bold(h)),
    style: { head: [], border: [], compact: true },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  t.push(...rows.map((r) => r.map(String)));
  return t.toString();
}

export function jobsTable(jobs: readonly JobSummary[], style: Style): string {
  return table(
    ['ID', 'TYPE', 'STATUS', 'PRI', 'PROGRESS', 'STEP', 'ATTEMPTS', 'CREATED'],
    jobs.map((j) => [
      j.id,
      j.type,
      paintStatus(j.status, style),
      j.priority,
      `${Math.round(j.progress)}%`,
      j.step ?? '-',
      `${j.attempts}/${j.maxAttempts}`,
      formatTime(j.createdAt),
    ]),
    style,
  );
}

export function jobDetails(job: JobView, style: Style): string {
  const rows: [string, string | undefined][] = [
    ['id', job.id],
    ['type', job.type],
    ['queue', job.queue],
    ['tenant', job.tenant],
    ['status', paintStatus(job.status, style) + (job.cancelRequested ? ' (cancel requested)' : '')],
    ['priority', String(job.priority)],
    ['progress', `${Math.round(job.progress)}%`],
    ['step', job.step ?? undefined],
    ['message', job.message ?? undefined],
    ['attempts', `${job.attempts}/${job.maxAttempts}`],
    ['timeout', formatDuration(job.timeoutMs)],
    ['created', formatTime(job.createdAt)],
    ['started', job.startedAt === null ? undefined : formatTime(job.startedAt)],
    ['finished', job.finishedAt === null ? undefined : formatTime(job.finishedAt)],
    ['next attempt', job.nextAttemptAt === null ? undefined : formatTime(job.nextAttemptAt)],
    ['estimated wait', job.estimatedWaitMs === undefined ? undefined : formatDuration(job.estimatedWaitMs)],
    ['payload', compactJson(job.payload)],
    ['error', job.error === null ? undefined : style.red(`${job.error.code}: ${job.error.message}`)],
    ['result', job.result === null || job.result === undefined ? undefined : compactJson(job.result)],
    ['result url', job.resultUrl ?? undefined],
    ['dead-lettered', job.deadLettered ? 'yes' : undefined],
    ['idempotency key', job.idempotencyKey ?? undefined],
    ['correlation id', job.correlationId],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows
    .filter((r): r is [string, string] => r[1] !== undefined && r[1] !== '')
    .map(([k, v]) => `${style.dim(k.padEnd(width))}  ${v}`)
    .join('\n');
}
