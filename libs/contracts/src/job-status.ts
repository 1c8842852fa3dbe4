/**
 * The job state machine of SPEC §3. Status names are part of the public contract (REST, events,
 * database): never rename them.
 */
export const JOB_STATUSES = [
  'scheduled',
  // A flow job whose dependencies have not all finished (SPEC §3, §11).
  'waiting',
  'queued',
  'running',
  'retrying',
  'completed',
  'failed',
  'cancelled',
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const TERMINAL_STATUSES: readonly JobStatus[] = ['completed', 'failed', 'cancelled'];
/**
 * What TENANT_MAX_ACTIVE_JOBS counts. `scheduled` jobs are not active: they count against
 * TENANT_MAX_SCHEDULED_JOBS instead.
 */
export const ACTIVE_STATUSES: readonly JobStatus[] = ['queued', 'running', 'retrying'];

/** Why a transition happens; several reasons can share one pair of states. */
export type TransitionReason =
  | 'claim' // a worker starts the job
  | 'complete'
  | 'fail'
  | 'retry_scheduled' // running → retrying after a retryable failure
  | 'handed_back' // worker stopped or lost: running → queued
  | 'cancel'
  | 'manual_retry' // explicit retry or DLQ replay of a failed/cancelled job
  | 'retry_due' // retrying → running when the delayed message arrives
  | 'due' // scheduled → queued at its runAt
  | 'dependencies_done' // waiting → queued when its last dependency finished
  | 'dependency_failed'; // waiting → failed (rule `fail`) or cancelled (rule `skip`)

const TRANSITIONS: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  scheduled: ['queued', 'cancelled'],
  waiting: ['queued', 'failed', 'cancelled'],
  queued: ['running', 'cancelled'],
  running: ['completed', 'failed', 'cancelled', 'retrying', 'queued'],
  retrying: ['running', 'cancelled'],
  completed: [],
  // A flow retry puts a job whose dependencies are re-run back to `waiting`.
  failed: ['queued', 'waiting'],
  cancelled: ['queued', 'waiting'],
};

export function isJobStatus(value: unknown): value is JobStatus {
  return typeof value === 'string' && (JOB_STATUSES as readonly string[]).includes(value);
}

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The statuses a job may be in for it to move to `to` (used to build conditional updates). */
export function statusesLeadingTo(to: JobStatus): JobStatus[] {
  return JOB_STATUSES.filter((from) => canTransition(from, to));
}

export class IllegalTransitionError extends Error {
  constructor(
    readonly from: JobStatus,
    readonly to: JobStatus,
  ) {
    super(`illegal job transition ${from} → ${to}`);
  }
}

export function assertTransition(from: JobStatus, to: JobStatus): void {
  if (!canTransition(from, to)) throw new IllegalTransitionError(from, to);
}
