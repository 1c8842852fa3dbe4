import type { DataSource, EntityManager } from 'typeorm';

export interface WebhookEndpointRecord {
  id: string;
  tenant: string;
  url: string;
  description: string | null;
  eventTypes: string[];
  jobTypes: string[];
  enabled: boolean;
  disabledReason: string | null;
  failingSince: Date | null;
  /** The previous secret stays valid (deliveries carry both signatures) until this time. */
  previousSecretUntil: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface WebhookEndpointPatch {
  url?: string;
  description?: string | null;
  eventTypes?: string[];
  jobTypes?: string[];
  enabled?: boolean;
}

export type WebhookDeliveryStatus = 'pending' | 'succeeded' | 'failed';

export interface WebhookDeliveryRecord {
  id: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  jobId: string;
  /** The job's `webhookUrl` when the delivery goes there instead of the endpoint's URL. */
  url: string | null;
  status: WebhookDeliveryStatus;
  attempts: number;
  nextAttemptAt: Date | null;
  lastAttemptAt: Date | null;
  lastResponseStatus: number | null;
  lastError: string | null;
  createdAt: Date;
}

/** A delivery claimed for sending, with what the sender needs. */
export interface DueWebhookDelivery {
  id: string;
  endpointId: string;
  url: string;
  /** The current secret first; the previous one too while its overlap lasts. */
  secrets: string[];
  payload: string;
  attempts: number;
  /** Failed attempts are retried until this time, then the delivery is given up. */
  retryUntil: Date;
}

/** One lifecycle event offered to the tenant's endpoints. */
export interface WebhookEventInput {
  eventId: string;
  eventType: string;
  jobId: string;
  tenant: string;
  jobType: string;
  /** The exact body to send (the job's CloudEvent as JSON). */
  payload: string;
}

const ENDPOINT_COLUMNS = `id, tenant, url, description, event_types, job_types, enabled, disabled_reason,
  failing_since, previous_secret_until, created_at, updated_at`;
const DELIVERY_COLUMNS = `id, endpoint_id, event_id, event_type, job_id, url, status, attempts, next_attempt_at,
  last_attempt_at, last_response_status, last_error, created_at`;

interface EndpointRow {
  id: string;
  tenant: string;
  url: string;
  description: string | null;
  event_types: string[];
  job_types: string[];
  enabled: boolean;
  disabled_reason: string | null;
  failing_since: Date | null;
  previous_secret_until: Date | null;
  created_at: Date;
  updated_at: Date;
}

interface DeliveryRow {
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  job_id: string;
  url: string | null;
  status: WebhookDeliveryStatus;
  attempts: number;
  next_attempt_at: Date;
  last_attempt_at: Date | null;
  last_response_status: number | null;
  last_error: string | null;
  created_at: Date;
}

const toEndpoint = (r: EndpointRow): WebhookEndpointRecord => ({
  id: r.id,
  tenant: r.tenant,
  url: r.url,
  description: r.description,
  eventTypes: r.event_types,
  jobTypes: r.job_types,
  enabled: r.enabled,
  disabledReason: r.disabled_reason,
  failingSince: r.failing_since,
  previousSecretUntil: r.previous_secret_until,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toDelivery = (r: DeliveryRow): WebhookDeliveryRecord => ({
  id: r.id,
  endpointId: r.endpoint_id,
  eventId: r.event_id,
  eventType: r.event_type,
  jobId: r.job_id,
  url: r.url,
  status: r.status,
  attempts: r.attempts,
  nextAttemptAt: r.status === 'pending' ? r.next_attempt_at : null,
  lastAttemptAt: r.last_attempt_at,
  lastResponseStatus: r.last_response_status,
  lastError: r.last_error,
  createdAt: r.created_at,
});

/** The origin (scheme://host[:port]) of an endpoint URL, the key a job's `webhookUrl` is matched on. */
export const originOf = (url: string): string => new URL(url).origin;

/** Serialises the changes of the set of enabled endpoints with the routing that follows them. */
const ROUTING_LOCK = `hashtext('switchyard.webhook-routing')`;

/** Webhook endpoints and their durable deliveries (the gateway's webhooks feature). */
export class WebhooksRepository {
  constructor(private readonly db: DataSource | EntityManager) {}

  /**
   * Runs `change` and then `route` with the event types that enabled endpoints take (empty when
   * none is enabled), in one transaction under a lock every gateway takes: the last `route` to run
   * always saw every committed change, so several gateways changing endpoints at once cannot leave
   * the routing behind the endpoints. `route` runs before the commit: when it throws, `change` is
   * rolled back.
   */
  async withRouting<T>(
    change: (repository: WebhooksRepository) => Promise<T>,
    route: (eventTypes: string[]) => Promise<void>,
  ): Promise<T> {
    return this.db.transaction(async (manager) => {
      await manager.query(`SELECT pg_advisory_xact_lock(${ROUTING_LOCK})`);
      const result = await change(new WebhooksRepository(manager));
      const rows: { event_type: string }[] = await manager.query(
        `SELECT DISTINCT unnest(event_types) AS event_type FROM webhook_endpoints WHERE enabled`,
      );
      await route(rows.map((r) => r.event_type));
      return result;
    });
  }

  /** Which of `origins` are the origin of one of `tenant`'s enabled endpoints. */
  async enabledOrigins(tenant: string, origins: readonly string[]): Promise<Set<string>> {
    const rows: { origin: string }[] = await this.db.query(
      `SELECT DISTINCT origin FROM webhook_endpoints WHERE tenant = $1 AND enabled AND origin = ANY ($2::text[])`,
      [tenant, origins],
    );
    return new Set(rows.map((r) => r.origin));
  }

  async createEndpoint(endpoint: {
    id: string;
    tenant: string;
    url: string;
    description: string | null;
    eventTypes: string[];
    jobTypes: string[];
    secret: string;
  }): Promise<WebhookEndpointRecord> {
    const rows: EndpointRow[] = await this.db.query(
      `INSERT INTO webhook_endpoints (id, tenant, url, description, event_types, job_types, secret, origin)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${ENDPOINT_COLUMNS}`,
      [
        endpoint.id,
        endpoint.tenant,
        endpoint.url,
        endpoint.description,
        endpoint.eventTypes,
        endpoint.jobTypes,
        endpoint.secret,
        originOf(endpoint.url),
      ],
    );
    return toEndpoint(rows[0]);
  }

  async countEndpoints(tenant: string): Promise<number> {
    const rows: { n: number }[] = await this.db.query(
      `SELECT count(*)::int AS n FROM webhook_endpoints WHERE tenant = $1`,
      [tenant],
    );
    return rows[0]?.n ?? 0;
  }

  /** The endpoints of `tenant` (every tenant when undefined), oldest first, at most `limit`. */
  async listEndpoints(tenant: string | undefined, limit: number): Promise<WebhookEndpointRecord[]> {
    const rows: EndpointRow[] = await this.db.query(
      `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE ($1::text IS NULL OR tenant = $1)
       ORDER BY created_at, id LIMIT $2`,
      [tenant ?? null, limit],
    );
    return rows.map(toEndpoint);
  }

  async findEndpoint(id: string, tenant: string | undefined): Promise<WebhookEndpointRecord | null> {
    const rows: EndpointRow[] = await this.db.query(
      `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1 AND ($2::text IS NULL OR tenant = $2)`,
      [id, tenant ?? null],
    );
    return rows[0] ? toEndpoint(rows[0]) : null;
  }

  /** Applies the fields present in `patch`; enabling again clears the failure record. */
  async updateEndpoint(
    id: string,
    tenant: string | undefined,
    patch: WebhookEndpointPatch,
  ): Promise<WebhookEndpointRecord | null> {
    const [rows]: [EndpointRow[], number] = await this.db.query(
      `UPDATE webhook_endpoints SET
         url = coalesce($3, url),
         origin = coalesce($9, origin),
         description = CASE WHEN $4::boolean THEN $5 ELSE description END,
         event_types = coalesce($6, event_types),
         job_types = coalesce($7, job_types),
         enabled = coalesce($8, enabled),
         disabled_reason = CASE WHEN $8 THEN NULL ELSE disabled_reason END,
         failing_since = CASE WHEN $8 THEN NULL ELSE failing_since END,
         updated_at = now()
       WHERE id = $1 AND ($2::text IS NULL OR tenant = $2)
       RETURNING ${ENDPOINT_COLUMNS}`,
      [
        id,
        tenant ?? null,
        patch.url ?? null,
        patch.description !== undefined,
        patch.description ?? null,
        patch.eventTypes ?? null,
        patch.jobTypes ?? null,
        patch.enabled ?? null,
        patch.url === undefined ? null : originOf(patch.url),
      ],
    );
    return rows[0] ? toEndpoint(rows[0]) : null;
  }

  async deleteEndpoint(id: string, tenant: string | undefined): Promise<boolean> {
    const [, count]: [unknown, number] = await this.db.query(
      `DELETE FROM webhook_endpoints WHERE id = $1 AND ($2::text IS NULL OR tenant = $2)`,
      [id, tenant ?? null],
    );
    return count > 0;
  }

  /** A new secret; the current one keeps signing (as a second signature) for `overlapMs`. */
  async rotateSecret(
    id: string,
    tenant: string | undefined,
    secret: string,
    overlapMs: number,
  ): Promise<WebhookEndpointRecord | null> {
    const [rows]: [EndpointRow[], number] = await this.db.query(
      `UPDATE webhook_endpoints SET previous_secret = secret, secret = $3,
         previous_secret_until = now() + ($4::bigint * interval '1 millisecond'), updated_at = now()
       WHERE id = $1 AND ($2::text IS NULL OR tenant = $2) RETURNING ${ENDPOINT_COLUMNS}`,
      [id, tenant ?? null, secret, overlapMs],
    );
    return rows[0] ? toEndpoint(rows[0]) : null;
  }

  /** Tenants with at least one enabled endpoint (the fan-out skips the others' events). */
  async tenantsWithEndpoints(): Promise<string[]> {
    const rows: { tenant: string }[] = await this.db.query(
      `SELECT DISTINCT tenant FROM webhook_endpoints WHERE enabled`,
    );
    return rows.map((r) => r.tenant);
  }

  /**
   * One delivery per (event, matching enabled endpoint of its tenant), in one statement; an event
   * offered twice (a redelivered message) adds nothing. A job submitted with a `webhookUrl` has it
   * stand in for the endpoints of its origin: one delivery, to that URL, recorded under (and signed
   * with the secret of) the oldest of them that takes the event; endpoints of other origins get
   * theirs as usual. Returns how many deliveries were created.
   */
  async enqueueForEvents(events: readonly WebhookEventInput[], retryWindowMs: number): Promise<number> {
    if (!events.length) return 0;
    const rows: unknown[] = await this.db.query(
      `WITH candidate AS (
         SELECT e.*, w.id AS endpoint_id, w.created_at AS endpoint_created, j.webhook_url,
           (j.webhook_url IS NOT NULL AND starts_with(j.webhook_url, w.origin || '/')) AS overridden
         FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[])
           AS e(event_id, event_type, job_id, tenant, job_type, payload)
         JOIN webhook_endpoints w ON w.tenant = e.tenant AND w.enabled
           AND e.event_type = ANY (w.event_types)
           AND (cardinality(w.job_types) = 0 OR e.job_type = ANY (w.job_types))
         LEFT JOIN jobs j ON j.id = e.job_id
       ), chosen AS (
         SELECT * FROM candidate WHERE NOT overridden
         UNION ALL
         (SELECT DISTINCT ON (event_id) * FROM candidate WHERE overridden
          ORDER BY event_id, endpoint_created, endpoint_id)
       )
       INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, job_id, payload, retry_until, url)
       SELECT gen_random_uuid(), c.endpoint_id, c.event_id, c.event_type, c.job_id, c.payload,
         now() + ($7::bigint * interval '1 millisecond'), CASE WHEN c.overridden THEN c.webhook_url END
       FROM chosen c
       ON CONFLICT (endpoint_id, event_id) DO NOTHING RETURNING id`,
      [
        events.map((e) => e.eventId),
        events.map((e) => e.eventType),
        events.map((e) => e.jobId),
        events.map((e) => e.tenant),
        events.map((e) => e.jobType),
        events.map((e) => e.payload),
        retryWindowMs,
      ],
    );
    return rows.length;
  }

  /**
   * Claims up to `limit` due deliveries of enabled endpoints for `leaseMs` (several gateways share
   * the work; a sender that dies leaves its claim to expire and the delivery is sent again).
   */
  async claimDue(limit: number, leaseMs: number): Promise<DueWebhookDelivery[]> {
    const rows: {
      id: string;
      endpoint_id: string;
      url: string;
      secret: string;
      previous_secret: string | null;
      payload: string;
      attempts: number;
      retry_until: Date;
    }[] = await this.db.query(
      `WITH due AS (
         SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id AND w.enabled
         WHERE d.status = 'pending' AND d.next_attempt_at <= now()
           AND (d.locked_until IS NULL OR d.locked_until < now())
         ORDER BY d.next_attempt_at LIMIT $1 FOR UPDATE OF d SKIP LOCKED
       ), claimed AS (
         UPDATE webhook_deliveries d SET locked_until = now() + ($2::bigint * interval '1 millisecond')
         FROM due WHERE d.id = due.id
         RETURNING d.id, d.endpoint_id, d.payload, d.attempts, d.retry_until, d.url AS job_url
       )
       SELECT c.*, coalesce(c.job_url, w.url) AS url, w.secret,
         CASE WHEN w.previous_secret_until > now() THEN w.previous_secret END AS previous_secret
       FROM claimed c JOIN webhook_endpoints w ON w.id = c.endpoint_id`,
      [limit, leaseMs],
    );
    return rows.map((r) => ({
      id: r.id,
      endpointId: r.endpoint_id,
      url: r.url,
      secrets: r.previous_secret ? [r.secret, r.previous_secret] : [r.secret],
      payload: r.payload,
      attempts: r.attempts,
      retryUntil: r.retry_until,
    }));
  }

  /** A 2xx answer: the delivery is done and the endpoint no longer failing. */
  async recordSuccess(delivery: DueWebhookDelivery, status: number): Promise<void> {
    await this.db.query(
      `WITH d AS (
         UPDATE webhook_deliveries SET status = 'succeeded', attempts = attempts + 1, last_attempt_at = now(),
           last_response_status = $2, last_error = NULL, locked_until = NULL
         WHERE id = $1 RETURNING endpoint_id
       )
       UPDATE webhook_endpoints SET failing_since = NULL WHERE id IN (SELECT endpoint_id FROM d)
         AND failing_since IS NOT NULL`,
      [delivery.id, status],
    );
  }

  /**
   * A failed attempt: retried at `retryAt`, or given up (`retryAt` null). The endpoint is marked
   * failing since its first failure and disabled with `reason` once it has failed for `disableAfterMs`.
   * Returns whether this failure disabled the endpoint.
   */
  async recordFailure(
    delivery: DueWebhookDelivery,
    outcome: { status: number | null; error: string; retryAt: Date | null },
    disableAfterMs: number,
  ): Promise<boolean> {
    const [rows]: [{ disabled: boolean }[], number] = await this.db.query(
      `WITH d AS (
         UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = now(),
           last_response_status = $2, last_error = $3, locked_until = NULL,
           status = CASE WHEN $4::timestamptz IS NULL THEN 'failed' ELSE 'pending' END,
           next_attempt_at = coalesce($4, next_attempt_at)
         WHERE id = $1 RETURNING endpoint_id
       )
       UPDATE webhook_endpoints w SET failing_since = coalesce(w.failing_since, now()),
         enabled = CASE WHEN w.failing_since < now() - ($5::bigint * interval '1 millisecond') THEN false
                   ELSE w.enabled END,
         disabled_reason = CASE WHEN w.failing_since < now() - ($5::bigint * interval '1 millisecond')
                   THEN 'every delivery failed since ' || to_char(w.failing_since AT TIME ZONE 'UTC',
                     'YYYY-MM-DD"T"HH24:MI:SS"Z"') || '; last error: ' || $3
                   ELSE w.disabled_reason END
       FROM d WHERE w.id = d.endpoint_id
       RETURNING (NOT w.enabled) AS disabled`,
      [delivery.id, outcome.status, outcome.error.slice(0, 500), outcome.retryAt, disableAfterMs],
    );
    return rows[0]?.disabled ?? false;
  }

  /** One endpoint's deliveries, newest first, keyset-paged by (created_at, id). */
  async listDeliveries(
    endpointId: string,
    limit: number,
    after?: { createdAt: Date; id: string },
  ): Promise<WebhookDeliveryRecord[]> {
    const rows: DeliveryRow[] = await this.db.query(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE endpoint_id = $1
         AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))
       ORDER BY created_at DESC, id DESC LIMIT $4`,
      [endpointId, after?.createdAt ?? null, after?.id ?? null, limit],
    );
    return rows.map(toDelivery);
  }

  /**
   * Sends a delivery again at once (whatever its status), keeping its id and retrying it for a new
   * `retryWindowMs`; null if not found.
   */
  async redeliver(
    endpointId: string,
    deliveryId: string,
    retryWindowMs: number,
  ): Promise<WebhookDeliveryRecord | null> {
    const [rows]: [DeliveryRow[], number] = await this.db.query(
      `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), locked_until = NULL,
         retry_until = now() + ($3::bigint * interval '1 millisecond')
       WHERE id = $1 AND endpoint_id = $2 RETURNING ${DELIVERY_COLUMNS}`,
      [deliveryId, endpointId, retryWindowMs],
    );
    return rows[0] ? toDelivery(rows[0]) : null;
  }

  /** Removes finished deliveries created before `before`, at most `limit`; returns how many. */
  async purgeFinished(before: Date, limit: number): Promise<number> {
    const [, count]: [unknown, number] = await this.db.query(
      `DELETE FROM webhook_deliveries WHERE id IN (
         SELECT id FROM webhook_deliveries WHERE status <> 'pending' AND created_at < $1 LIMIT $2)`,
      [before, limit],
    );
    return count;
  }
}
