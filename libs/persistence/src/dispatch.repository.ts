import type { DataSource } from 'typeorm';
import type { QueryResultRow } from 'pg';
import { MAX_PRIORITY, MIN_PRIORITY } from '@switchyard/contracts';
import type { JobRow } from './job-row';
import { JobsRepository } from './jobs.repository';
import { eventOutboxMessage, queuedEventFromRow, type OutboxRecord } from './job-messages';
import { poolOf } from './pool';
import { listenOn } from './notify-listener';
import {
  CLAIMED_CHANNEL,
  DISPATCH_CHANNEL,
  KEYED_CHANNEL,
  QUEUE_SETTINGS_CHANNEL,
  parseClaimed,
} from './dispatch-channels';
import { notifyDispatchIn } from './outbox-rows';

export { CLAIMED_CHANNEL, DISPATCH_CHANNEL, KEYED_CHANNEL, QUEUE_SETTINGS_CHANNEL, notifyDispatchIn };

/** A job the dispatcher just released: what its dispatch message and publish options need. */
export interface ReleasedJob {
  id: string;
  tenant: string;
  type: string;
  queue: string;
  correlationId: string;
  /** Priority with aging, 0–9: the message's AMQP priority. */
  effectivePriority: number;
  /** The attempts count the release is for. */
  attempt: number;
  /** W3C trace context stored with the job (tracing on), the parent of its dispatch span. */
  traceparent: string | null;
  tracestate: string | null;
}

/** What one release statement did: the jobs it released and the window count after them. */
export interface ReleaseResult {
  jobs: ReleasedJob[];
  /** The queue's released-but-unclaimed jobs once these were released (as the statement saw them). */
  released: number;
  /** Tenants with unkeyed backlog the statement saw (at most 2 for the lean statement). */
  tenants?: number;
  /** A fair release that the pairs statement made (asked for, or the turns statement did not answer). */
  pairs?: boolean;
}

interface ReleasedRow {
  id: string;
  tenant: string;
  type: string;
  queue: string;
  correlation_id: string;
  effective: number;
  attempts: number;
  traceparent: string | null;
  tracestate: string | null;
}

const released = (r: ReleasedRow): ReleasedJob => ({
  id: r.id,
  tenant: r.tenant,
  type: r.type,
  queue: r.queue,
  correlationId: r.correlation_id,
  effectivePriority: Number(r.effective),
  attempt: r.attempts,
  traceparent: r.traceparent,
  tracestate: r.tracestate,
});

/** The released jobs of a release statement's rows, and the window count after them. */
function releaseResult(rows: (ReleasedRow & { released_before: number })[]): ReleaseResult {
  const jobs = rows.filter((r) => r.id !== null).map(released);
  return { jobs, released: Number(rows[0]?.released_before ?? 0) + jobs.length };
}

/** releaseResult with the tenants the statement saw (none when the window was full: nothing was looked at). */
function withTenants(
  rows: (ReleasedRow & { released_before: number; tenants: number | null })[],
): ReleaseResult {
  const tenants = rows[0]?.tenants;
  return {
    ...releaseResult(rows),
    ...(tenants === null || tenants === undefined ? {} : { tenants: Number(tenants) }),
  };
}

/**
 * A job's effective priority: its priority plus one level per `agingMs` (a parameter) waited since
 * submission, at most 9; `agingMs` 0: no aging. Capped before the cast: a long wait over a short
 * interval would overflow an int.
 */
const effectivePriority = (alias: string, agingMs: string) =>
  `LEAST(${MAX_PRIORITY}, ${alias}.priority + CASE WHEN ${agingMs}::double precision > 0
    THEN LEAST(${MAX_PRIORITY}, floor(extract(epoch FROM now() - ${alias}.created_at) * 1000 / ${agingMs}::double precision))::int
    ELSE 0 END)`;

/** Most tenants with backlog one release statement looks at (in name order; see docs/architecture.md). */
export const FAIR_SHARE_TENANTS = 100;

/** The backlog of queue $1 without a concurrency or rate key (what `jobs_backlog` holds). */
const BACKLOG = (alias: string) =>
  `${alias}.status = 'queued' AND ${alias}.dispatched_at IS NULL AND ${alias}.concurrency_key IS NULL
    AND ${alias}.rate_key IS NULL AND ${alias}.queue = $1`;

/** The queue's released-but-unclaimed jobs (index-only through `jobs_released`): the window's count. */
const RELEASED_COUNT = `released AS MATERIALIZED (
    SELECT count(*)::int AS n FROM jobs WHERE status = 'queued' AND dispatched_at IS NOT NULL AND queue = $1
  )`;

/**
 * The (priority, tenant) pairs with backlog in jobs_backlog's order, with the first job of each
 * (its oldest, so the most aged of the pair): a loose index scan, one probe per pair (the row
 * comparison and the order are jobs_backlog's own, so no other index can serve it).
 */
const pairsScan = (name: string) => `${name}(priority, tenant, id, created_at) AS (
    (SELECT priority, tenant, id, created_at FROM jobs b WHERE ${BACKLOG('b')}
     ORDER BY priority, tenant, created_at LIMIT 1)
    UNION ALL
    SELECT n.priority, n.tenant, n.id, n.created_at FROM ${name} CROSS JOIN LATERAL (
      SELECT j.priority, j.tenant, j.id, j.created_at FROM jobs j
      WHERE ${BACKLOG('j')} AND (j.priority, j.tenant) > (${name}.priority, ${name}.tenant)
      ORDER BY j.priority, j.tenant, j.created_at LIMIT 1
    ) n
  )`;

/**
 * Up to `limit` jobs of one (priority, tenant) pair in submission order. The tenant as a range,
 * not an equality: then only jobs_backlog gives the (tenant, created_at) order (jobs_tenant_created
 * would serve an equality and filter the whole table).
 */
const PAIR_RANGE = (priority: string, tenant: string, limit: string) => `(
      SELECT id, tenant, priority, created_at FROM jobs b
      WHERE ${BACKLOG('b')} AND b.priority = ${priority} AND b.tenant >= ${tenant} AND b.tenant <= ${tenant}
      ORDER BY tenant, created_at LIMIT ${limit}
    )`;

/**
 * Locks the first window − released of `ordered` (by `orderBy`) and marks them released; the rows
 * come back in release order, which an UPDATE's RETURNING does not keep (one row with the count
 * alone when nothing was released). The ids are looked up by primary key whatever the statistics
 * say about a backlog that grew or drained since the last ANALYZE: the state test is written so
 * that it cannot be matched to the jobs_backlog predicate (the planner would otherwise walk that
 * whole index to find 16 ids). A row another release marked in the meantime fails the re-checked
 * condition (SKIP LOCKED, then the re-check), so a job is never released twice.
 */
const RELEASE_ORDERED = (
  orderBy: string,
  {
    extra = '',
    limit = '$2',
    returning = '',
    after = '',
  }: {
    /** Columns of the first row besides the released count (`, x AS name`). */
    extra?: string;
    /** The parameter holding the batch size. */
    limit?: string;
    /** Columns of the marked rows besides those of a ReleasedRow, for `after` (`, j.x`). */
    returning?: string;
    /** CTEs that run on `marked` (`, name AS (…)`). */
    after?: string;
  } = {},
) => `picked AS (
    SELECT id FROM jobs
    WHERE id = ANY (ARRAY(
        SELECT id FROM ordered o ORDER BY ${orderBy}
        LIMIT LEAST(${limit}::int, greatest(0, $4::int - (SELECT n FROM released)))))
      AND (status = 'queued' AND dispatched_at IS NULL) IS TRUE
    FOR UPDATE SKIP LOCKED
  ), marked AS (
    UPDATE jobs j SET dispatched_at = now(), released_attempt = j.attempts, releases = j.releases + 1
    WHERE j.id = ANY (ARRAY(SELECT id FROM picked)) AND (j.status = 'queued' AND j.dispatched_at IS NULL) IS TRUE
    RETURNING j.id, j.tenant, j.type, j.queue, j.correlation_id, j.attempts, j.traceparent, j.tracestate${returning}
  )${after}
  SELECT r.n AS released_before${extra}, m.id, m.tenant, m.type, m.queue, m.correlation_id, o.effective,
    m.attempts, m.traceparent, m.tracestate
  FROM released r
  LEFT JOIN (marked m JOIN ordered o ON o.id = m.id) ON true
  ORDER BY ${orderBy}`;

/**
 * The release of a batch when the last release saw one tenant with backlog (the lean statement),
 * bounded by the window: `released` is counted in the statement, so it marks at most
 * `window − released` jobs whatever the caller believed the count was. The first tenant's
 * candidates: per priority level one index range in submission order, at most `limit` each (within
 * a level the oldest job has aged most, so the first `limit` of each level hold the first `limit`
 * in effective order); released by effective priority, then submission order. The pairs scan stops
 * after the first tenant's levels and one more pair, which says whether a second tenant has backlog;
 * then it releases nothing (a second tenant's jobs might outrank the first one's) and says so in
 * `tenants`, and the dispatcher runs the fair statement at once. Aging counts from created_at (in
 * the index): a job's wait since submission.
 */
const RELEASE_READY_LEAN = `WITH RECURSIVE ${RELEASED_COUNT}, ${pairsScan('scan')}, seen AS MATERIALIZED (
    SELECT DISTINCT tenant FROM (SELECT tenant FROM scan LIMIT 20) pairs ORDER BY tenant LIMIT 2
  ), candidates AS MATERIALIZED (
    SELECT b.id, b.created_at, ${effectivePriority('b', '$3')} AS effective
    FROM (SELECT tenant FROM seen ORDER BY tenant LIMIT 1) t
    CROSS JOIN generate_series(${MIN_PRIORITY}, ${MAX_PRIORITY}) AS level(p)
    CROSS JOIN LATERAL ${PAIR_RANGE('level.p', 't.tenant', '$2')} b
    WHERE (SELECT count(*) FROM seen) = 1
  ), ordered AS MATERIALIZED (
    SELECT id, created_at, effective FROM candidates
  ), ${RELEASE_ORDERED('o.effective DESC, o.created_at, o.id', {
    extra: ', (SELECT count(*)::int FROM seen) AS tenants',
  })}`;

/**
 * The release of a batch when several tenants have backlog: effective priority first, then fair
 * share (docs/architecture.md), then submission order, within the window as the lean statement.
 * It reads what the batch needs, whatever the number of tenants and levels:
 *
 * 1. `top`: per priority level the first `want` jobs in submission order, whatever their tenant
 *    (`jobs_backlog_order`, ten index ranges). Within a level the oldest job has aged most, so these
 *    hold the best `want` jobs in effective order; `cut` is the effective priority of the `want`-th.
 * 2. `sure`: the jobs above the cut. All of them are released, whoever's they are.
 * 3. The rest of the batch goes to jobs *at* the cut, by fair share. They can only be in the levels
 *    whose first job reaches the cut (`bounds`); a loose index scan of `jobs_backlog`'s
 *    (priority, tenant) pairs within those levels finds the tenants with such jobs (at most
 *    FAIR_SHARE_TENANTS per level, in name order). A tenant's jobs at the cut come in its own order
 *    with shares (used + its jobs before this one) / weight, so `limit_at` — the `m`-th lowest share
 *    of the tenants' first jobs at the cut, `m` the room the sure jobs left — bounds which jobs can
 *    be among the `m` released: each tenant's pairs are read only that far.
 */
/**
 * What both fair statements read first: the batch (`want`, within the window), per level the first
 * `want` jobs in submission order (`top`), the `cut` and the jobs above it (`sure`), the room they
 * leave at the cut (`room`), and every tenant's jobs in use in the queue (`used`), counted in one pass
 * over them (released: bounded by the window, through jobs_released; running: by the consumers'
 * prefetch) rather than by two probes per tenant, which cost more than the jobs they count.
 */
const FAIR_HEAD = `${RELEASED_COUNT}, want AS MATERIALIZED (
    SELECT LEAST($2::int, greatest(0, $4::int - (SELECT n FROM released))) AS n
  ), top AS MATERIALIZED (
    SELECT b.id, b.tenant, b.priority, b.created_at, ${effectivePriority('b', '$3')} AS effective
    FROM generate_series(${MIN_PRIORITY}, ${MAX_PRIORITY}) AS level(p)
    CROSS JOIN LATERAL (
      SELECT id, tenant, priority, created_at FROM jobs b WHERE ${BACKLOG('b')} AND b.priority = level.p
      ORDER BY created_at LIMIT (SELECT n FROM want)
    ) b
  ), cut AS MATERIALIZED (
    SELECT min(effective) AS effective FROM (
      SELECT effective FROM top ORDER BY effective DESC LIMIT (SELECT n FROM want)) best
  ), sure AS MATERIALIZED (
    SELECT id, tenant, created_at, effective FROM top WHERE effective > (SELECT effective FROM cut)
  ), room AS MATERIALIZED (
    SELECT (SELECT n FROM want) - (SELECT count(*)::int FROM sure) AS m
  ), used AS MATERIALIZED (
    SELECT tenant, count(*)::int AS n FROM (
      SELECT tenant FROM jobs WHERE status = 'queued' AND dispatched_at IS NOT NULL AND queue = $1
      UNION ALL SELECT tenant FROM jobs WHERE status = 'running' AND queue = $1
    ) u GROUP BY tenant
  )`;

/**
 * The release order of both fair statements (alias o: effective, share, tenant, created_at, id):
 * at equal share, tenants take turns in name order from the one after $5 (the tenant of the last
 * job the queue's previous fair release ended with), round the end to the start.
 */
const FAIR_ORDER = 'o.effective DESC, o.share, o.tenant <= $5::text, o.tenant, o.created_at, o.id';

/**
 * The water level of tenants of weight 1 holding `held` each (rows of `source`): the least share L
 * (an integer) with Σ max(0, L − held) ≥ `m`, the share the m-th lowest of their next jobs reaches
 * if each has jobs enough. With the tenants by held, L = min over j of max(⌈(m + Σ first j held) / j⌉,
 * held_j + 1): each term is a level that fills m places, and the least one is reached at the j whose
 * held values are the last below L. NULL without tenants.
 */
const WATER_LEVEL = (source: string, m: string) => `(
      SELECT min(greatest(ceil((${m} + w.total)::float8 / w.j), w.held + 1))::float8 FROM (
        SELECT h.held, row_number() OVER k AS j, sum(h.held) OVER k AS total FROM (${source}) h
        WINDOW k AS (ORDER BY h.held ROWS UNBOUNDED PRECEDING)) w)`;

/**
 * How many jobs at the cut a tenant of `weight` holding `held` is read for: those whose share can
 * be within `share` (+1e-9: float division at equal shares), at most m; m when `share` is NULL.
 */
const READ_DEPTH = (share: string, weight: string, held: string) =>
  `LEAST((SELECT m FROM room), CASE WHEN ${share} IS NULL THEN (SELECT m FROM room)
        ELSE greatest(0, floor(${share} * ${weight} + 1e-9)::int - (${held})) END)`;

/** The jobs at the cut of the pairs of `reads` (priority, tenant, n) with `where`, each read n deep. */
const READ_AT_CUT = (
  reads: string,
  where: string,
) => `SELECT c.id, c.tenant, c.created_at, c.effective FROM ${reads} r CROSS JOIN LATERAL (
      SELECT b.id, b.tenant, b.created_at, ${effectivePriority('b', '$3')} AS effective
      FROM ${PAIR_RANGE('r.priority', 'r.tenant', 'r.n')} b
    ) c
    WHERE ${where} AND c.effective = (SELECT effective FROM cut)`;

/**
 * Per tenant of `reads`: how many jobs at the cut it was read for (`d`) and gave (`a`; fewer than
 * `d`: it has no more there, a pair read sure + d deep past its own sure jobs), what it holds
 * (`held`: used + sure) and its weight.
 */
const GOT = (reads: string, rows: string) => `SELECT r.tenant, max(r.d) AS d, coalesce(max(c.a), 0) AS a,
      max(s.used + s.sure) AS held, max(s.weight) AS weight
    FROM ${reads} r JOIN shares s ON s.tenant = r.tenant
    LEFT JOIN (SELECT tenant, count(*)::int AS a FROM ${rows}
               WHERE effective = (SELECT effective FROM cut) GROUP BY tenant) c ON c.tenant = r.tenant
    GROUP BY r.tenant`;

const RELEASE_READY_FAIR = `WITH RECURSIVE ${FAIR_HEAD}, bounds AS MATERIALIZED (
    -- The levels whose first job reaches the cut (that first job is in top).
    SELECT min(priority) AS lo, max(priority) AS hi FROM top
    WHERE effective >= (SELECT effective FROM cut) AND priority <= (SELECT effective FROM cut)
  ), scan(priority, tenant, id, created_at) AS (
    (SELECT priority, tenant, id, created_at FROM jobs b
     WHERE ${BACKLOG('b')} AND b.priority >= (SELECT lo FROM bounds) AND b.priority <= (SELECT hi FROM bounds)
     ORDER BY priority, tenant, created_at LIMIT 1)
    UNION ALL
    SELECT n.priority, n.tenant, n.id, n.created_at FROM scan CROSS JOIN LATERAL (
      SELECT j.priority, j.tenant, j.id, j.created_at FROM jobs j
      WHERE ${BACKLOG('j')} AND (j.priority, j.tenant) > (scan.priority, scan.tenant)
        AND j.priority <= (SELECT hi FROM bounds)
      ORDER BY j.priority, j.tenant, j.created_at LIMIT 1
    ) n
  ), ${pairsScan('any_pairs')}, pairs AS MATERIALIZED (
    -- The pairs whose first job reaches the cut, at most FAIR_SHARE_TENANTS per level.
    SELECT priority, tenant, id, created_at, head FROM (
      SELECT s.priority, s.tenant, s.id, s.created_at, ${effectivePriority('s', '$3')} AS head,
        row_number() OVER (PARTITION BY s.priority ORDER BY s.tenant) AS nth
      FROM (SELECT * FROM scan LIMIT ${FAIR_SHARE_TENANTS * (MAX_PRIORITY - MIN_PRIORITY + 1)}) s
    ) p
    WHERE head >= (SELECT effective FROM cut) AND nth <= ${FAIR_SHARE_TENANTS}
  ), shares AS MATERIALIZED (
    -- Each tenant's jobs in use, its sure jobs, and its weight. Joins, not a subquery per tenant:
    -- the planner costs those per estimated tenant, and with fresh statistics the estimate passed
    -- jit_above_cost (JIT compilation: ~75 ms per statement on the bench machine).
    SELECT t.tenant, coalesce(u.n, 0) AS used, coalesce(s.n, 0) AS sure, coalesce(w.weight, 1) AS weight
    FROM (SELECT tenant FROM sure UNION SELECT tenant FROM pairs) t
    LEFT JOIN used u ON u.tenant = t.tenant
    LEFT JOIN (SELECT tenant, count(*) AS n FROM sure GROUP BY tenant) s ON s.tenant = t.tenant
    LEFT JOIN tenant_weights w ON w.tenant = t.tenant
  ), limit_at AS MATERIALIZED (
    -- How far the tenants at the cut are read, as a share: with weights all 1, the water level (the
    -- least share whose jobs would fill m places if every tenant had jobs enough there); with
    -- weights, the m-th lowest share of the tenants' first jobs (NULL, no bound, when fewer tenants
    -- than m have jobs at the cut).
    SELECT CASE WHEN (SELECT bool_and(weight = 1) FROM shares WHERE tenant IN (SELECT tenant FROM pairs))
      THEN ${WATER_LEVEL('SELECT used + sure AS held FROM shares WHERE tenant IN (SELECT tenant FROM pairs)', '(SELECT m FROM room)')}
      ELSE (SELECT (used + sure + 1)::float8 / weight AS first FROM shares
            WHERE tenant IN (SELECT tenant FROM pairs)
            ORDER BY first OFFSET greatest(0, (SELECT m FROM room) - 1) LIMIT 1) END AS share
  ), reads AS MATERIALIZED (
    -- How far each tenant's pairs are read: its sure jobs come first in a pair, then at most the
    -- jobs at the cut whose share can be within limit_at (+1e-9: float division at equal shares): d.
    SELECT p.priority, p.tenant, p.id, p.created_at, p.head, s.sure, d.d, s.sure + d.d AS n
    FROM pairs p JOIN shares s ON s.tenant = p.tenant CROSS JOIN LATERAL (
      SELECT ${READ_DEPTH('(SELECT share FROM limit_at)', 's.weight', 's.used + s.sure')} AS d) d
  ), candidates AS MATERIALIZED (
    SELECT id, tenant, created_at, effective FROM sure
    UNION ALL
    -- A pair read one job deep: its first job, which the pairs scan already found.
    SELECT id, tenant, created_at, head FROM reads WHERE n = 1 AND head = (SELECT effective FROM cut)
    UNION ALL
    ${READ_AT_CUT('reads', 'r.n > 1')}
  ), got AS MATERIALIZED (
    ${GOT('reads', 'candidates')}
  ), again AS MATERIALIZED (
    -- The bound came short: fewer than m jobs at the cut within it, and some tenant gave every job
    -- it was read for (it may have more). Those that gave fewer have no more at the cut and keep
    -- what was read; the others are read again, to the water level of what is left (weights all 1)
    -- or m deep.
    SELECT (SELECT coalesce(sum(LEAST(a, d)), 0) FROM got) < (SELECT m FROM room)
        AND EXISTS (SELECT 1 FROM got WHERE a >= d) AS short,
      CASE WHEN (SELECT share FROM limit_at) IS NOT NULL AND (SELECT bool_and(weight = 1) FROM got) THEN
        ${WATER_LEVEL('SELECT held FROM got WHERE a >= d', '(SELECT m FROM room) - (SELECT coalesce(sum(a), 0) FROM got WHERE a < d)')}
      END AS share
  ), reads2 AS MATERIALIZED (
    SELECT r.priority, r.tenant, d.d, r.sure + d.d AS n
    FROM reads r JOIN got g ON g.tenant = r.tenant CROSS JOIN LATERAL (
      SELECT ${READ_DEPTH('(SELECT share FROM again)', 'g.weight', 'g.held')} AS d) d
    WHERE (SELECT short FROM again) AND g.a >= g.d
  ), more AS MATERIALIZED (
    ${READ_AT_CUT('reads2', 'r.n > 0')}
  ), got2 AS MATERIALIZED (
    ${GOT('reads2', 'more')}
  ), last_round AS MATERIALIZED (
    -- Short again: the tenants that still gave every job they were read for are read m deep.
    SELECT (SELECT coalesce(sum(a), 0) FROM got WHERE a < d) + (SELECT coalesce(sum(LEAST(a, d)), 0) FROM got2)
        < (SELECT m FROM room) AND EXISTS (SELECT 1 FROM got2 WHERE a >= d) AS short
  ), reads3 AS MATERIALIZED (
    SELECT r.priority, r.tenant, r.sure + (SELECT m FROM room) AS n FROM reads r JOIN got2 g ON g.tenant = r.tenant
    WHERE (SELECT short FROM last_round) AND g.a >= g.d
  ), deepest AS MATERIALIZED (
    ${READ_AT_CUT('reads3', 'true')}
  ), ordered AS MATERIALIZED (
    SELECT c.id, c.tenant, c.created_at, c.effective,
      (s.used + row_number() OVER (PARTITION BY c.tenant ORDER BY c.effective DESC, c.created_at, c.id))::float8
        / s.weight AS share
    FROM (
      -- Each tenant's jobs from one round: the last that read it.
      SELECT id, tenant, created_at, effective FROM candidates
      WHERE effective > (SELECT effective FROM cut) OR NOT (SELECT short FROM again)
        OR tenant IN (SELECT tenant FROM got WHERE a < d)
      UNION ALL
      SELECT id, tenant, created_at, effective FROM more
      WHERE NOT (SELECT short FROM last_round) OR tenant IN (SELECT tenant FROM got2 WHERE a < d)
      UNION ALL
      SELECT id, tenant, created_at, effective FROM deepest
    ) c JOIN shares s ON s.tenant = c.tenant
  ), ${RELEASE_ORDERED(FAIR_ORDER, {
    // Whether several tenants have backlog (the dispatcher's choice of statement): those met here,
    // and, only when those are fewer than two, those among the first 20 (priority, tenant) pairs as
    // the lean statement looks (that scan costs ~20 index probes, not worth it when the answer is known).
    extra: `, CASE WHEN (SELECT n FROM want) > 0 THEN (
        SELECT CASE WHEN met.n > 1 THEN met.n ELSE (SELECT count(DISTINCT tenant)::int FROM (
          SELECT tenant FROM shares UNION ALL SELECT tenant FROM top
          UNION ALL (SELECT tenant FROM any_pairs LIMIT 20)) t) END
        FROM (SELECT count(DISTINCT tenant)::int AS n FROM (
          SELECT tenant FROM shares UNION ALL SELECT tenant FROM top) t) met) END AS tenants`,
  })}`;

/** Most tenants the turns statement visits per level before it leaves the batch to the pairs statement. */
const TURN_VISITS = (m: string) => `(4 * ${m} + 32)`;
/** Most tenants of weight > 1 the turns statement reads one by one (more: the pairs statement). */
export const TURN_WEIGHTED = 64;

/**
 * The next tenant with backlog at level `p` in turn order after `after` (`phase` 0: after $5 in
 * name order; 1: round the end, from the first name up to $5; names are never empty), with its
 * first job at that level: one index descent of `jobs_backlog` (the first branch that finds one).
 */
const nextTurn = (p: string, phase: string, after: string) => {
  const head = (
    turn: number,
    where: string,
  ) => `(SELECT ${turn} AS phase, b.tenant, b.id, b.priority, b.created_at
        FROM jobs b WHERE ${BACKLOG('b')} AND b.priority = ${p} AND ${where}
        ORDER BY b.tenant, b.created_at LIMIT 1)`;
  return `(SELECT * FROM (${head(0, `${phase} = 0 AND b.tenant > ${after}`)}
      UNION ALL ${head(1, `b.tenant > CASE WHEN ${phase} = 0 THEN '' ELSE ${after} END AND b.tenant <= $5::text`)}) x LIMIT 1)`;
};

/** Visit `n` (a nextTurn row): a tenant holding nothing, of weight 1, whose first job there is at the cut. */
const FREE_AT_CUT = (n: string) =>
  `(${n}.tenant <> ALL ((SELECT tenants FROM busy)::text[]) AND ${effectivePriority(n, '$3')} = (SELECT effective FROM cut))`;

/**
 * The release of a batch with several tenants when tenants take turns at the cut (the common case;
 * docs/architecture.md, "How the release reads it"). As the pairs statement it releases every job
 * above the cut (`sure`) and gives the `m` places left to jobs at the cut by share, then turn. A
 * tenant that holds nothing in the queue (no job in use, none above the cut) and has weight 1 has
 * share 1 for its first job at the cut and at least 2 for any other job, as has every tenant that
 * holds something; only weights above 1 give shares below 1. So when `m` such free tenants have jobs
 * at the cut, the batch is theirs and the weighted tenants' with shares up to 1, by turn: each level
 * at the cut is walked in turn order, one index descent per tenant, until it has met `m` free
 * tenants there (or visited TURN_VISITS); a free tenant's job is the first of its first jobs at the
 * levels it was met in. The weighted tenants (at most TURN_WEIGHTED) are read as far as `m` jobs
 * each. `conclusive`: the `m`-th job chosen has share ≤ 1 and comes, in turn order, no later than
 * the last tenant visited at every level walked only in part; else nothing is released and the
 * caller runs the pairs statement.
 */
const RELEASE_READY_TURNS = `WITH RECURSIVE ${FAIR_HEAD}, weighted AS MATERIALIZED (
    SELECT tenant, weight FROM tenant_weights WHERE weight > 1 ORDER BY tenant LIMIT ${TURN_WEIGHTED + 1}
  ), busy AS MATERIALIZED (
    -- The tenants not free: jobs in use or above the cut, or a weight.
    SELECT coalesce(array_agg(DISTINCT tenant), '{}') AS tenants FROM (
      SELECT tenant FROM used UNION ALL SELECT tenant FROM sure UNION ALL SELECT tenant FROM weighted) t
  ), levels AS MATERIALIZED (
    -- The levels with jobs at the cut: a level's first one is in top (only jobs above the cut,
    -- fewer than want, come before it).
    SELECT DISTINCT priority AS p FROM top WHERE effective = (SELECT effective FROM cut) AND (SELECT m FROM room) > 0
  ), walk(p, phase, tenant, id, created_at, free, found, visits) AS (
    -- From $5 at each level (that row is no visit), one tenant a step.
    SELECT p, 0, $5::text, NULL::uuid, NULL::timestamptz, false, 0, 0 FROM levels
    UNION ALL
    SELECT w.p, n.phase, n.tenant, n.id, n.created_at, f.free, w.found + f.free::int, w.visits + 1
    FROM walk w CROSS JOIN LATERAL ${nextTurn('w.p', 'w.phase', 'w.tenant')} n
    CROSS JOIN LATERAL (SELECT ${FREE_AT_CUT('n')} AS free) f
    WHERE w.found < (SELECT m FROM room) AND w.visits < ${TURN_VISITS('(SELECT m FROM room)')}
  ), ends AS MATERIALIZED (
    -- Each level's last visit; walked in part when it stopped at m free tenants or at the cap.
    SELECT DISTINCT ON (p) p, tenant, found >= (SELECT m FROM room)
      OR visits >= ${TURN_VISITS('(SELECT m FROM room)')} AS part
    FROM walk ORDER BY p, visits DESC
  ), heavy AS MATERIALIZED (
    -- A weighted tenant's first m jobs at the cut: per level its first m + (its jobs above the cut,
    -- which come first) hold them.
    SELECT c.id, c.tenant, c.created_at, (c.held + c.k)::float8 / c.weight AS share FROM (
      SELECT w.weight, coalesce(u.n, 0) + coalesce(s.n, 0) AS held, b.id, b.tenant, b.created_at,
        row_number() OVER (PARTITION BY w.tenant ORDER BY b.created_at, b.id) AS k
      FROM weighted w
      LEFT JOIN used u ON u.tenant = w.tenant
      LEFT JOIN (SELECT tenant, count(*)::int AS n FROM sure GROUP BY tenant) s ON s.tenant = w.tenant
      CROSS JOIN levels l
      CROSS JOIN LATERAL ${PAIR_RANGE('l.p', 'w.tenant', '(SELECT m FROM room) + coalesce(s.n, 0)')} b
      WHERE ${effectivePriority('b', '$3')} = (SELECT effective FROM cut)
    ) c
    WHERE c.k <= (SELECT m FROM room)
  ), chosen AS MATERIALIZED (
    SELECT id, tenant, created_at, share FROM (
      SELECT id, tenant, created_at, share FROM (
        SELECT DISTINCT ON (tenant) id, tenant, created_at, 1::float8 AS share FROM walk WHERE free
        ORDER BY tenant, created_at, id
      ) f
      UNION ALL SELECT id, tenant, created_at, share FROM heavy
    ) c
    ORDER BY share, tenant <= $5::text, tenant, created_at, id LIMIT greatest(0, (SELECT m FROM room))
  ), last AS MATERIALIZED (
    SELECT share, tenant FROM chosen ORDER BY share DESC, tenant <= $5::text DESC, tenant DESC, created_at DESC, id DESC
    LIMIT 1
  ), verdict AS MATERIALIZED (
    SELECT (SELECT m FROM room) <= 0 OR (SELECT effective FROM cut) IS NULL OR (
      (SELECT count(*) FROM weighted) <= ${TURN_WEIGHTED}
      AND (SELECT count(*) FROM chosen) = (SELECT m FROM room)
      AND (SELECT share FROM last) <= 1
      AND NOT EXISTS (SELECT 1 FROM ends e, last l WHERE e.part
        AND (l.share, l.tenant <= $5::text, l.tenant) > (1::float8, e.tenant <= $5::text, e.tenant))) AS ok
  ), ordered AS MATERIALIZED (
    SELECT s.id, s.tenant, s.created_at, s.effective,
      (coalesce(u.n, 0) + row_number() OVER (PARTITION BY s.tenant ORDER BY s.effective DESC, s.created_at, s.id))::float8
        / coalesce(w.weight, 1) AS share
    FROM sure s LEFT JOIN used u ON u.tenant = s.tenant LEFT JOIN tenant_weights w ON w.tenant = s.tenant
    WHERE (SELECT ok FROM verdict)
    UNION ALL
    SELECT id, tenant, created_at, (SELECT effective FROM cut), share FROM chosen WHERE (SELECT ok FROM verdict)
  ), ${RELEASE_ORDERED(FAIR_ORDER, {
    extra: `, (SELECT ok FROM verdict) AS conclusive,
      CASE WHEN (SELECT n FROM want) > 0 THEN (SELECT count(DISTINCT tenant)::int FROM (
        SELECT tenant FROM top UNION ALL SELECT tenant FROM walk WHERE visits > 0
        UNION ALL SELECT tenant FROM heavy) t) END AS tenants`,
  })}`;

/** The release statements run as named statements (DispatchRepository.prepared). */
const RELEASE_STATEMENTS = { lean: RELEASE_READY_LEAN, turns: RELEASE_READY_TURNS, fair: RELEASE_READY_FAIR };

const RE_RELEASE_STALE = `WITH stale AS (
    SELECT id FROM jobs
    WHERE status = 'queued' AND dispatched_at < now() - make_interval(secs => $1::double precision / 1000)
      AND ($3::text[] IS NULL OR queue = ANY ($3::text[]))
    ORDER BY dispatched_at LIMIT $2
    FOR UPDATE SKIP LOCKED
  )
  UPDATE jobs j SET dispatched_at = now(), released_attempt = j.attempts, releases = j.releases + 1
  FROM stale WHERE j.id = stale.id AND j.status = 'queued' AND j.dispatched_at IS NOT NULL
  RETURNING j.id, j.tenant, j.type, j.queue, j.correlation_id, ${effectivePriority('j', '$4')} AS effective, j.attempts,
    j.traceparent, j.tracestate`;

/**
 * The backlog partial index a kind of job is in: `jobs_backlog` (plain), `jobs_keyed_backlog` (a
 * concurrency key, with or without a rate key) or `jobs_rated_backlog` (a rate key alone).
 */
const BACKLOG_OF = {
  plain: (j: string) => `${j}concurrency_key IS NULL AND ${j}rate_key IS NULL`,
  keyed: (j: string) => `${j}concurrency_key IS NOT NULL`,
  rated: (j: string) => `${j}concurrency_key IS NULL AND ${j}rate_key IS NOT NULL`,
};

/** A loose index scan of a backlog index: one probe per queue, however large the backlog. */
const backlogQueues = (kind: keyof typeof BACKLOG_OF) => `WITH RECURSIVE q(queue) AS (
    SELECT min(queue) FROM jobs
    WHERE status = 'queued' AND dispatched_at IS NULL AND ${BACKLOG_OF[kind]('')}
    UNION ALL
    SELECT (SELECT min(j.queue) FROM jobs j
            WHERE j.status = 'queued' AND j.dispatched_at IS NULL
              AND ${BACKLOG_OF[kind]('j.')} AND j.queue > q.queue)
    FROM q WHERE q.queue IS NOT NULL
  )
  SELECT queue FROM q WHERE queue IS NOT NULL`;
const BACKLOG_QUEUES = backlogQueues('plain');
const KEYED_BACKLOG_QUEUES = backlogQueues('keyed');
const RATED_BACKLOG_QUEUES = backlogQueues('rated');

/** Most concurrency keys one keyed release looks at (the next pass takes the others). */
export const KEYED_RELEASE_KEYS = 200;

/** The concurrency keys with backlog in a queue, through `jobs_keyed_backlog` (a loose index scan). */
const KEYED_BACKLOG_KEYS = `WITH RECURSIVE k(key) AS (
    SELECT min(concurrency_key) FROM jobs
    WHERE status = 'queued' AND dispatched_at IS NULL AND concurrency_key IS NOT NULL AND queue = $1
    UNION ALL
    SELECT (SELECT min(j.concurrency_key) FROM jobs j
            WHERE j.status = 'queued' AND j.dispatched_at IS NULL AND j.concurrency_key IS NOT NULL
              AND j.queue = $1 AND j.concurrency_key > k.key)
    FROM k WHERE k.key IS NOT NULL
  )
  SELECT k.key, l.max FROM k LEFT JOIN concurrency_limits l ON l.key = k.key
  WHERE k.key IS NOT NULL LIMIT ${KEYED_RELEASE_KEYS}`;

/**
 * Jobs in use per key: released, running or retrying (index-only through `jobs_keyed_active`).
 * Used by the keyed release and the limits views alike.
 */
export const KEYED_IN_USE = (key: string) => `(SELECT count(*)::int FROM jobs
    WHERE concurrency_key = ${key}
      AND (status IN ('running', 'retrying') OR (status = 'queued' AND dispatched_at IS NOT NULL)))`;

/**
 * The release of keyed jobs of a queue ($1), run in the transaction that holds the advisory lock
 * of every limited key ($2: the keys, $5: their max, NULL for no limit), so that it counts each
 * key's jobs in use after every other release of that key committed. Per key, at most
 * max − in use candidates per priority level (as RELEASE_READY, within a level the oldest first),
 * then at most `limit` ($3) in effective order, within the window ($4 less the released count).
 */
const RELEASE_KEYED = `WITH ${RELEASED_COUNT}, keys AS MATERIALIZED (
    SELECT k.key, CASE WHEN k.max IS NULL THEN $3::int
                       ELSE LEAST($3::int, greatest(0, k.max - ${KEYED_IN_USE('k.key')})) END AS room
    FROM unnest($2::text[], $5::int[]) AS k(key, max)
  ), candidates AS MATERIALIZED (
    SELECT b.id, b.created_at, ${effectivePriority('b', '$6')} AS effective,
      row_number() OVER (PARTITION BY keys.key ORDER BY ${effectivePriority('b', '$6')} DESC, b.created_at, b.id) AS rank,
      keys.room
    FROM keys
    CROSS JOIN generate_series(${MIN_PRIORITY}, ${MAX_PRIORITY}) AS level(p)
    CROSS JOIN LATERAL (
      SELECT id, priority, created_at FROM jobs
      WHERE status = 'queued' AND dispatched_at IS NULL AND concurrency_key = keys.key AND queue = $1
        AND priority = level.p
      ORDER BY created_at LIMIT keys.room
    ) b
    WHERE keys.room > 0
  ), ordered AS MATERIALIZED (
    SELECT id, created_at, effective FROM candidates WHERE rank <= room
  ), ${RELEASE_ORDERED('o.effective DESC, o.created_at, o.id', { limit: '$3' })}`;

/** The advisory lock of a concurrency key (transaction scope): keyed releases of it run one at a time. */
const LOCK_KEYS = `SELECT count(pg_advisory_xact_lock(hashtextextended('switchyard.concurrency:' || k, 0)))
  FROM (SELECT unnest($1::text[]) AS k ORDER BY 1) keys`;

/** Most rate keys one rated release looks at (keys not held first; the next pass takes the others). */
export const RATED_RELEASE_KEYS = 200;

/**
 * The rate keys with backlog in a queue (rated jobs without a concurrency key, through
 * `jobs_rated_backlog`, a loose index scan), each with its budget (NULL: none) and whether a
 * provider's 429 holds it now.
 */
const RATED_BACKLOG_KEYS = `WITH RECURSIVE k(key) AS (
    SELECT min(rate_key) FROM jobs
    WHERE status = 'queued' AND dispatched_at IS NULL AND concurrency_key IS NULL AND rate_key IS NOT NULL
      AND queue = $1
    UNION ALL
    SELECT (SELECT min(j.rate_key) FROM jobs j
            WHERE j.status = 'queued' AND j.dispatched_at IS NULL AND j.concurrency_key IS NULL
              AND j.rate_key IS NOT NULL AND j.queue = $1 AND j.rate_key > k.key)
    FROM k WHERE k.key IS NOT NULL
  )
  SELECT k.key, l.per_minute, l.burst, (b.held_until > now()) IS TRUE AS held
  FROM k LEFT JOIN rate_limits l ON l.key = k.key LEFT JOIN rate_buckets b ON b.key = k.key
  WHERE k.key IS NOT NULL
  ORDER BY 4, 1 LIMIT ${RATED_RELEASE_KEYS}`;

/**
 * A rate key's tokens at the statement's time: what `rate_buckets` holds plus the refill since
 * (per_minute / 60 a second), at most `burst`; a key without a bucket row has a full bucket.
 */
const TOKENS_NOW = `LEAST(k.burst::float8, CASE WHEN b.tokens IS NULL OR b.refilled_at IS NULL THEN k.burst::float8
    ELSE b.tokens + greatest(0, extract(epoch FROM statement_timestamp() - b.refilled_at)) * k.per_minute / 60.0 END)`;

/**
 * The release of rated jobs of a queue ($1), run in the transaction that holds the advisory lock of
 * every rate key with a budget ($2: the keys, $5/$6: their per_minute/burst, NULL for no budget).
 * Per key: nothing while a 429 holds it (`held_until` later than now), at most the whole tokens of
 * its bucket when it has a budget, else up to `limit`; candidates per priority level in submission
 * order (as RELEASE_KEYED), then at most `limit` ($3) in effective order within the window ($4
 * less the released count). The tokens spent are taken from the bucket in the same statement.
 */
const RELEASE_RATED = `WITH ${RELEASED_COUNT}, keys AS MATERIALIZED (
    SELECT k.key, k.per_minute, CASE WHEN k.per_minute IS NULL THEN NULL ELSE ${TOKENS_NOW} END AS tokens,
      (b.held_until > statement_timestamp()) IS TRUE AS held
    FROM unnest($2::text[], $5::int[], $6::int[]) AS k(key, per_minute, burst)
    LEFT JOIN rate_buckets b ON b.key = k.key
  ), rooms AS MATERIALIZED (
    -- A budget also caps the releases of the last 60 s at per_minute (a token bucket alone would
    -- let burst + per_minute through in some minute): dispatched_at stays a job's last release
    -- time after it is claimed and finishes (jobs_rated_recent).
    SELECT key, per_minute, tokens,
      CASE WHEN held OR per_minute = 0 THEN 0 WHEN per_minute IS NULL THEN $3::int
           ELSE LEAST($3::int, greatest(0, floor(tokens))::int, greatest(0, per_minute - (
             SELECT count(*) FROM jobs r WHERE r.rate_key = keys.key AND r.dispatched_at IS NOT NULL
               AND r.dispatched_at > statement_timestamp() - interval '60 seconds')::int)) END AS room
    FROM keys
  ), candidates AS MATERIALIZED (
    SELECT b.id, b.rate_key, b.created_at, ${effectivePriority('b', '$7')} AS effective,
      row_number() OVER (PARTITION BY rooms.key ORDER BY ${effectivePriority('b', '$7')} DESC, b.created_at, b.id) AS rank,
      rooms.room
    FROM rooms
    CROSS JOIN generate_series(${MIN_PRIORITY}, ${MAX_PRIORITY}) AS level(p)
    CROSS JOIN LATERAL (
      SELECT id, rate_key, priority, created_at FROM jobs
      WHERE status = 'queued' AND dispatched_at IS NULL AND concurrency_key IS NULL AND rate_key = rooms.key
        AND queue = $1 AND priority = level.p
      ORDER BY created_at LIMIT rooms.room
    ) b
    WHERE rooms.room > 0
  ), ordered AS MATERIALIZED (
    SELECT id, created_at, effective FROM candidates WHERE rank <= room
  ), ${RELEASE_ORDERED('o.effective DESC, o.created_at, o.id', {
    limit: '$3',
    returning: ', j.rate_key',
    after: `, spent AS (
    -- Only buckets something was taken from: an untouched one is still right as stored (its
    -- refill is computed from refilled_at whenever it is read).
    INSERT INTO rate_buckets (key, tokens, refilled_at)
    SELECT r.key, r.tokens - (SELECT count(*) FROM marked m WHERE m.rate_key = r.key), statement_timestamp()
    FROM rooms r WHERE r.per_minute IS NOT NULL AND EXISTS (SELECT 1 FROM marked m WHERE m.rate_key = r.key)
    ON CONFLICT (key) DO UPDATE SET tokens = EXCLUDED.tokens, refilled_at = EXCLUDED.refilled_at
  )`,
  })}`;

/**
 * The advisory lock of a rate key (transaction scope): the rated releases of a key with a budget
 * run one at a time, so each reads the tokens the last one left.
 */
const LOCK_RATE_KEYS = `SELECT count(pg_advisory_xact_lock(hashtextextended('switchyard.rate:' || k, 0)))
  FROM (SELECT unnest($1::text[]) AS k ORDER BY 1) keys`;

/**
 * The dispatcher's statements: PostgreSQL holds the backlog (`queued`, `dispatched_at` NULL) and
 * the scheduled jobs; these release ready jobs to RabbitMQ in batches and keep the mark of what
 * is out (see "The dispatcher" in docs/architecture.md).
 */
export class DispatchRepository {
  private readonly jobs: JobsRepository;

  constructor(
    private readonly db: DataSource,
    /** The service named as the source of the `job.queued` events of promotions. */
    private readonly service: string,
  ) {
    this.jobs = new JobsRepository(db);
  }

  /**
   * Releases up to `limit` ready jobs of `queue`, highest effective priority first (priority +
   * one level per `agingMs` waited, at most 9; `agingMs` 0: no aging), then oldest first, and never
   * more than keeps the queue's released-but-unclaimed jobs within `window`. One statement (the
   * window count included); never returns a job twice across concurrent callers.
   */
  async releaseReady(
    queue: string,
    limit: number,
    agingMs: number,
    window: number,
    /**
     * Several tenants had backlog at the last release: order by fair share. false: the lean
     * statement (one tenant's candidates), which reports a second tenant in `tenants`.
     */
    fair = true,
    /**
     * Fair: `after`, the tenant the queue's last fair release ended with (tenants take turns at
     * equal share from the next one in name order); `pairs`, the pairs statement straight away (the
     * turns statement did not answer lately).
     */
    turn: { after?: string; pairs?: boolean } = {},
  ): Promise<ReleaseResult> {
    type Row = ReleasedRow & { released_before: number; tenants: number | null };
    if (!fair) return withTenants(await this.prepared<Row>('lean', [queue, limit, agingMs, window]));
    const params = [queue, limit, agingMs, window, turn.after ?? ''];
    if (!turn.pairs) {
      const rows = await this.prepared<Row & { conclusive: boolean }>('turns', params);
      if (rows[0]?.conclusive !== false) return withTenants(rows);
      // It met one tenant: the lean statement answers, unless it meets a second one.
      if (Number(rows[0]?.tenants) <= 1) {
        const lean = withTenants(await this.prepared<Row>('lean', params.slice(0, 4)));
        if (lean.jobs.length || (lean.tenants ?? 1) <= 1) return lean;
      }
    }
    return { ...withTenants(await this.prepared<Row>('fair', params)), pairs: true };
  }

  /**
   * Releases keyed jobs of `queue` (jobs with a concurrency key) like releaseReady, and never more
   * of a key than keeps its released, running and retrying jobs within the key's limit (a key
   * without a limit is not held back). Limited keys are locked (advisory, transaction scope, in
   * key order) before their jobs in use are counted, so two dispatchers never both fill a key's
   * last slot. `keyed`: whether the queue had keyed backlog when the statement ran.
   */
  async releaseKeyed(
    queue: string,
    limit: number,
    agingMs: number,
    window: number,
  ): Promise<ReleaseResult & { keyed: boolean }> {
    return this.db.transaction(async (m) => {
      const keys: { key: string; max: number | null }[] = await m.query(KEYED_BACKLOG_KEYS, [queue]);
      if (!keys.length) return { jobs: [], released: 0, keyed: false };
      const limited = keys.filter((k) => k.max !== null).map((k) => k.key);
      if (limited.length) await m.query(LOCK_KEYS, [limited]);
      const rows: (ReleasedRow & { released_before: number })[] = await m.query(RELEASE_KEYED, [
        queue,
        keys.map((k) => k.key),
        limit,
        window,
        keys.map((k) => k.max),
        agingMs,
      ]);
      return { ...releaseResult(rows), keyed: true };
    });
  }

  /**
   * Releases rated jobs of `queue` (a rate key and no concurrency key) like releaseKeyed: per key,
   * none while a provider's 429 holds the key fleet-wide, at most the tokens of its bucket when the
   * key has a budget (`rate_limits`), and freely (still through this pass) when it has none.
   *
   * The bucket lives in PostgreSQL, not Redis: it is spent in the very transaction that marks the
   * jobs released, under the key's advisory lock, so tokens and releases cannot disagree (a release
   * rolled back gives its tokens back), every gateway's dispatcher shares it, and a 429 hold written
   * by any worker is read by the same statement. `rated`: whether the queue had rated backlog.
   */
  async releaseRated(
    queue: string,
    limit: number,
    agingMs: number,
    window: number,
  ): Promise<ReleaseResult & { rated: boolean }> {
    return this.db.transaction(async (m) => {
      const keys: { key: string; per_minute: number | null; burst: number | null; held: boolean }[] =
        await m.query(RATED_BACKLOG_KEYS, [queue]);
      if (!keys.length) return { jobs: [], released: 0, rated: false };
      const budgeted = keys.filter((k) => k.per_minute !== null && !k.held).map((k) => k.key);
      if (budgeted.length) await m.query(LOCK_RATE_KEYS, [budgeted]);
      const rows: (ReleasedRow & { released_before: number })[] = await m.query(RELEASE_RATED, [
        queue,
        keys.map((k) => k.key),
        limit,
        window,
        keys.map((k) => k.per_minute),
        keys.map((k) => k.burst),
        agingMs,
      ]);
      return { ...releaseResult(rows), rated: true };
    });
  }

  /** Queues that have rated backlog (queued, not released, a rate key and no concurrency key). */
  async ratedBacklogQueues(): Promise<string[]> {
    return (await this.onPool<{ queue: string }>(RATED_BACKLOG_QUEUES, [])).map((r) => r.queue);
  }

  /** Queues that have keyed backlog (queued, not released, with a concurrency key). */
  async keyedBacklogQueues(): Promise<string[]> {
    return (await this.onPool<{ queue: string }>(KEYED_BACKLOG_QUEUES, [])).map((r) => r.queue);
  }

  /** Released-but-unclaimed jobs per queue (every listed queue, 0 when none). */
  async releasedCounts(queues: readonly string[]): Promise<Map<string, number>> {
    if (!queues.length) return new Map();
    const rows = await this.onPool<{ queue: string; n: string }>(
      `SELECT q.queue, (SELECT count(*) FROM jobs
           WHERE status = 'queued' AND dispatched_at IS NOT NULL AND queue = q.queue) AS n
       FROM unnest($1::text[]) AS q(queue)`,
      [[...new Set(queues)]],
    );
    return new Map(rows.map((r) => [r.queue, Number(r.n)]));
  }

  /** Queues that have a backlog (queued, not released). */
  async backlogQueues(): Promise<string[]> {
    return (await this.onPool<{ queue: string }>(BACKLOG_QUEUES, [])).map((r) => r.queue);
  }

  /**
   * Jobs released more than `afterMs` ago that no worker claimed (a lost message, or a queue
   * without consumers): marked released again and returned, at most `limit`, oldest release
   * first, each with its effective priority now (aging by `agingMs` as in releaseReady).
   */
  async reReleaseStale(
    afterMs: number,
    limit: number,
    agingMs: number,
    /** Only these queues (e.g. those with consumers: a queue nobody consumes still holds its messages). */
    queues?: readonly string[],
  ): Promise<ReleasedJob[]> {
    if (limit <= 0) return [];
    return (await this.onPool<ReleasedRow>(RE_RELEASE_STALE, [afterMs, limit, queues ?? null, agingMs])).map(
      released,
    );
  }

  /**
   * Scheduled jobs whose run_at has come become `queued` (in the backlog), at most `limit`, each
   * with its `job.queued` event in the outbox; notifies the queues touched. Returns those queues
   * and the outbox records to publish.
   */
  async promoteDue(limit: number): Promise<{ queues: string[]; outbox: OutboxRecord[] }> {
    if (limit <= 0) return { queues: [], outbox: [] };
    return this.db.transaction(async (m) => {
      const [rows] = await m.query<[JobRow[], number]>(
        `WITH due AS (
           SELECT id FROM jobs WHERE status = 'scheduled' AND run_at <= now()
           ORDER BY run_at LIMIT $1 FOR UPDATE SKIP LOCKED
         )
         UPDATE jobs j SET status = 'queued', dispatched_at = NULL, event_seq = j.event_seq + 1,
           progress_seq = j.event_seq + 1
         FROM due WHERE j.id = due.id AND j.status = 'scheduled'
         RETURNING j.*`,
        [limit],
      );
      if (!rows.length) return { queues: [], outbox: [] };
      const messages = rows.map((row) => eventOutboxMessage(queuedEventFromRow(this.service, row)));
      const ids = await this.jobs.insertOutbox(messages, m);
      const queues = [...new Set(rows.map((r) => r.queue))];
      await notifyDispatchIn(m, queues);
      return { queues, outbox: messages.map((message, i) => ({ ...message, id: ids[i] })) };
    });
  }

  /** The earliest run_at of any scheduled job, or null when none is scheduled. */
  async nextRunAt(): Promise<Date | null> {
    const rows = await this.onPool<{ at: Date | null }>(
      `SELECT min(run_at) AS at FROM jobs WHERE status = 'scheduled'`,
      [],
    );
    return rows[0]?.at ?? null;
  }

  /**
   * LISTENs on DISPATCH_CHANNEL (payload: the queue), CLAIMED_CHANNEL (`onDispatch` with the number
   * of jobs claimed) and QUEUE_SETTINGS_CHANNEL on a connection of its own, reconnecting when it is lost; after a reconnect `onQueueSettings` runs once (a change
   * may have been missed; missed dispatch notifications are the caller's periodic pass's to catch
   * up). Rejects when the first connection fails. Returns the function that stops listening.
   */
  listen(
    /** `claimed`: a claim took that many of the queue's released jobs out of its window. */
    onDispatch: (queue: string, claimed?: number) => void,
    onQueueSettings: () => void,
    /** KEYED_CHANNEL: a keyed job of the queue ended or went back to the backlog (a slot may be free). */
    onKeyed: (queue: string) => void = onDispatch,
  ): Promise<() => Promise<void>> {
    return listenOn(
      this.db,
      [DISPATCH_CHANNEL, CLAIMED_CHANNEL, QUEUE_SETTINGS_CHANNEL, KEYED_CHANNEL],
      (channel, payload) => {
        if (channel === DISPATCH_CHANNEL && payload) onDispatch(payload);
        else if (channel === KEYED_CHANNEL && payload) onKeyed(payload);
        else if (channel === CLAIMED_CHANNEL && payload) {
          const claim = parseClaimed(payload);
          if (claim) onDispatch(claim.queue, claim.count);
        } else if (channel === QUEUE_SETTINGS_CHANNEL) onQueueSettings();
      },
      onQueueSettings,
    );
  }

  /** NOTIFY DISPATCH_CHANNEL for these queues (where no statement did it already). */
  async notifyDispatch(queues: readonly string[]): Promise<void> {
    await notifyDispatchIn(this.db.manager, queues);
  }

  /**
   * A release statement as a named (prepared) statement: each connection parses it once, and
   * PostgreSQL may keep a generic plan for it once that costs no more than the custom ones. Planning
   * was ~40 % of a release's CPU (bench/release-cost: 138–150 µs of backend CPU per released job
   * planned each time, 78–95 µs prepared). The generic-plan trap (a plan made for a small table
   * kept as it grows; docs/performance.md) is closed by ANALYZE, which invalidates the cached plans
   * of the table: the table maintenance (VACUUM_DEAD_ROWS) and the jobs table's autovacuum
   * settings analyze it after 5 % of its rows changed.
   */
  private async prepared<R extends QueryResultRow>(
    statement: keyof typeof RELEASE_STATEMENTS,
    values: unknown[],
  ) {
    return (
      await poolOf(this.db).query<R>({
        name: `switchyard_release_${statement}`,
        text: RELEASE_STATEMENTS[statement],
        values,
      })
    ).rows;
  }

  /** A single statement on the pg Pool, past TypeORM's wrapper (see JobsRepository.onPool). */
  private async onPool<R extends QueryResultRow>(text: string, values: unknown[]): Promise<R[]> {
    return (await poolOf(this.db).query<R>({ text, values })).rows;
  }
}
