import {
  ApiError,
  DEPENDENCY_FAILURE_RULES,
  FLOW_REF_PATTERN,
  LIMITS,
  type ApiErrorDetail,
  type DependencyFailureRule,
} from '@switchyard/contracts';
import type { ValidSubmission } from '../jobs/submission.validator';

/** One valid flow job: the submission (checked like a batch item) and its place in the flow. */
export interface FlowItem {
  ref: string;
  dependsOn: string[];
  onDependencyFailure: DependencyFailureRule;
  submission: ValidSubmission;
}

export interface ValidFlow {
  name: string | null;
  metadata: Record<string, unknown>;
  items: FlowItem[];
}

/** Checks one job submission (the batch route's validation); `index` names it in the details. */
export type CheckSubmission = (
  body: unknown,
  index: number,
) => { ok: true; value: ValidSubmission } | { ok: false; error: ApiError };

const FLOW_FIELDS = new Set(['name', 'metadata', 'jobs']);
const REF = new RegExp(FLOW_REF_PATTERN);
const NAME_MAX = 200;
/** `dependsOn` entries per job (docs/flows.md "Limits"; the FlowJobSubmission schema's maxItems). */
export const DEPENDS_ON_MAX = 1000;

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * Validates a `POST /flows` body as a whole: the envelope, every job like a batch item (schema,
 * type, payload), then the graph — refs unique, every `dependsOn` naming a job of the flow, no
 * cycle, `fromDependency` inputs naming one of the job's dependencies, delays only on jobs without
 * dependencies. Any problem throws `flow_invalid` (SPEC §11) with one detail per problem found —
 * `details[].index` naming the job when the problem is a job's — so nothing is created.
 */
export function validateFlow(body: unknown, maxJobs: number, check: CheckSubmission): ValidFlow {
  const jobs = isObject(body) ? body['jobs'] : undefined;
  const extra = isObject(body) ? Object.keys(body).filter((k) => !FLOW_FIELDS.has(k)) : [];
  if (!Array.isArray(jobs) || jobs.length === 0 || jobs.length > maxJobs || extra.length) {
    throw new ApiError(
      'flow_invalid',
      `the body must be {"jobs": [...], "name"?, "metadata"?} with 1 to ${maxJobs} jobs; nothing was created`,
      [
        ...(Array.isArray(jobs) ? [] : [{ field: 'jobs', message: 'must be an array of flow jobs' }]),
        ...(Array.isArray(jobs) && (jobs.length === 0 || jobs.length > maxJobs)
          ? [
              {
                field: 'jobs',
                message: `must have 1 to ${maxJobs} items (FLOW_MAX_JOBS; has ${jobs.length})`,
              },
            ]
          : []),
        ...extra.map((field) => ({ field, message: 'is not a known property' })),
      ],
    );
  }
  const flow = body as Record<string, unknown>;
  const envelope: ApiErrorDetail[] = [];
  const name = flow['name'];
  if (name !== undefined && (typeof name !== 'string' || name.length < 1 || name.length > NAME_MAX)) {
    envelope.push({ field: 'name', message: `must be a string of 1 to ${NAME_MAX} characters` });
  }
  const metadata = flow['metadata'] ?? {};
  if (!isObject(metadata)) envelope.push({ field: 'metadata', message: 'must be an object' });
  else if (Buffer.byteLength(JSON.stringify(metadata)) > LIMITS.metadataBytes) {
    envelope.push({ field: 'metadata', message: `must be at most ${LIMITS.metadataBytes} bytes as JSON` });
  }
  if (envelope.length) throw new ApiError('flow_invalid', 'the flow is invalid', envelope);

  const details: ApiErrorDetail[] = [];
  const items: (FlowItem | null)[] = jobs.map((entry, index) => checkItem(entry, index, check, details));
  const byRef = new Map<string, number>();
  items.forEach((item, index) => {
    if (!item) return;
    const first = byRef.get(item.ref);
    if (first !== undefined)
      details.push({ index, field: 'ref', message: `repeats the ref of job ${first}` });
    else byRef.set(item.ref, index);
  });
  const keys = new Map<string, number>();
  items.forEach((item, index) => {
    if (!item) return;
    for (const dep of item.dependsOn) {
      if (dep === item.ref)
        details.push({ index, field: 'dependsOn', message: 'a job cannot depend on itself' });
      else if (!byRef.has(dep))
        details.push({ index, field: 'dependsOn', message: `no job of this flow has ref "${dep}"` });
    }
    const from = item.submission.payload['fromDependency'];
    if (typeof from === 'string' && !item.dependsOn.includes(from)) {
      details.push({
        index,
        field: 'payload.fromDependency',
        message: `"${from}" must be one of this job's dependsOn`,
      });
    }
    if (item.dependsOn.length && item.submission.runAt !== null) {
      details.push({
        index,
        field: 'runAt',
        message: 'a job with dependsOn starts when they finish: no runAt or delayMs',
      });
    }
    const key = item.submission.idempotencyKey;
    if (key !== null) {
      const first = keys.get(key);
      if (first !== undefined)
        details.push({ index, field: 'idempotencyKey', message: `repeats the key of job ${first}` });
      keys.set(key, index);
    }
  });
  if (!details.length) {
    for (const index of jobsOnCycles(items as FlowItem[], byRef)) {
      details.push({ index, field: 'dependsOn', message: 'is part of a dependency cycle' });
    }
  }
  if (details.length) {
    const bad = new Set(details.map((d) => d.index)).size;
    throw new ApiError(
      'flow_invalid',
      `${bad} of ${jobs.length} jobs are invalid; nothing was created`,
      details,
    );
  }
  return {
    name: typeof name === 'string' ? name : null,
    metadata: metadata as Record<string, unknown>,
    items: items as FlowItem[],
  };
}

function checkItem(
  entry: unknown,
  index: number,
  check: CheckSubmission,
  details: ApiErrorDetail[],
): FlowItem | null {
  if (!isObject(entry)) {
    details.push({ index, field: 'jobs', message: 'must be an object' });
    return null;
  }
  const { ref, dependsOn = [], onDependencyFailure = 'fail', ...submission } = entry;
  const before = details.length;
  if (typeof ref !== 'string' || !REF.test(ref)) {
    details.push({ index, field: 'ref', message: `must match ${FLOW_REF_PATTERN}` });
  }
  const refs = Array.isArray(dependsOn) ? dependsOn : null;
  if (!refs || refs.some((r) => typeof r !== 'string') || new Set(refs).size !== refs.length) {
    details.push({ index, field: 'dependsOn', message: 'must be an array of distinct refs' });
  } else if (refs.length > DEPENDS_ON_MAX) {
    details.push({ index, field: 'dependsOn', message: `must have at most ${DEPENDS_ON_MAX} refs` });
  }
  if (!(DEPENDENCY_FAILURE_RULES as readonly unknown[]).includes(onDependencyFailure)) {
    details.push({
      index,
      field: 'onDependencyFailure',
      message: `must be one of ${DEPENDENCY_FAILURE_RULES.join(', ')}`,
    });
  }
  const checked = check(submission, index);
  if (!checked.ok) details.push(...checked.error.details.map((d) => ({ ...d, index })));
  if (details.length > before || !checked.ok) return null;
  return {
    ref: ref as string,
    dependsOn: refs as string[],
    onDependencyFailure: onDependencyFailure as DependencyFailureRule,
    submission: checked.value,
  };
}

/** Indexes of the jobs on a cycle (Kahn's algorithm: what never becomes free is on or behind one). */
function jobsOnCycles(items: readonly FlowItem[], byRef: ReadonlyMap<string, number>): number[] {
  const pending = items.map((item) => item.dependsOn.length);
  const dependants: number[][] = items.map(() => []);
  items.forEach((item, index) => {
    for (const dep of item.dependsOn) dependants[byRef.get(dep) ?? 0]?.push(index);
  });
  const free = pending.flatMap((n, i) => (n === 0 ? [i] : []));
  while (free.length) {
    const i = free.pop() as number;
    for (const d of dependants[i] ?? []) if (--pending[d] === 0) free.push(d);
  }
  return pending.flatMap((n, i) => (n > 0 ? [i] : []));
}

/** Jobs in dependency order (each after all it depends on), in their own order otherwise. */
export function dependencyOrder<T>(
  jobs: readonly T[],
  refOf: (job: T) => string,
  depsOf: (job: T) => readonly string[],
): T[] {
  const index = new Map(jobs.map((job, i) => [refOf(job), i]));
  const pending = jobs.map((job) => depsOf(job).filter((dep) => index.has(dep)).length);
  const dependants: number[][] = jobs.map(() => []);
  jobs.forEach((job, i) => {
    for (const dep of depsOf(job)) {
      const j = index.get(dep);
      if (j !== undefined) dependants[j]?.push(i);
    }
  });
  const ready = pending.flatMap((n, i) => (n === 0 ? [i] : []));
  const placed = new Set<number>();
  for (let k = 0; k < ready.length; k++) {
    const i = ready[k];
    placed.add(i);
    for (const d of dependants[i] ?? []) if (--pending[d] === 0) ready.push(d);
  }
  // Anything left is on a cycle (never created so): listed last rather than lost.
  return [...ready, ...jobs.map((_, i) => i).filter((i) => !placed.has(i))].map((i) => jobs[i]);
}
