import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import type { JobError, JobStatus } from '@switchyard/contracts';

/**
 * The system of record for a job. Column ownership (docs/architecture.md): the gateway inserts;
 * the worker owns status, attempts, lease, result and error through conditional updates keyed on
 * the current status; the progress-tracker owns step, progress, message and progress_seq.
 */
@Entity({ name: 'jobs' })
@Index('jobs_tenant_created', ['tenant', 'createdAt', 'id'])
export class JobEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column('text') tenant!: string;
  @Column('text') type!: string;
  @Column('text') queue!: string;
  @Column('text') status!: JobStatus;
  @Column('smallint') priority!: number;
  @Column('text', { nullable: true }) step!: string | null;
  @Column('real', { default: 0 }) progress!: number;
  @Column('text', { nullable: true }) message!: string | null;
  @Column('int', { default: 0 }) attempts!: number;
  @Column('int', { name: 'max_attempts' }) maxAttempts!: number;
  @Column('int', { name: 'timeout_ms' }) timeoutMs!: number;
  @Column('text', { name: 'correlation_id' }) correlationId!: string;
  @Column('text', { name: 'idempotency_key', nullable: true }) idempotencyKey!: string | null;
  @Column('text', { name: 'request_hash' }) requestHash!: string;
  @Column('jsonb') payload!: Record<string, unknown>;
  @Column('jsonb', { default: {} }) metadata!: Record<string, unknown>;
  @Column('jsonb', { nullable: true }) result!: unknown;
  @Column('text', { name: 'result_url', nullable: true }) resultUrl!: string | null;
  @Column('jsonb', { nullable: true }) error!: JobError | null;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 }) createdAt!: Date;
  @Column('timestamptz', { name: 'started_at', nullable: true }) startedAt!: Date | null;
  @Column('timestamptz', { name: 'finished_at', nullable: true }) finishedAt!: Date | null;
  @Column('timestamptz', { name: 'next_attempt_at', nullable: true }) nextAttemptAt!: Date | null;
  @Column('boolean', { name: 'cancel_requested', default: false }) cancelRequested!: boolean;
  @Column('boolean', { name: 'dead_lettered', default: false }) deadLettered!: boolean;
  @Column('text', { name: 'lease_owner', nullable: true }) leaseOwner!: string | null;
  @Column('timestamptz', { name: 'lease_expires_at', nullable: true }) leaseExpiresAt!: Date | null;
  /** Last lifecycle-event sequence number handed out for this job (see jobs.repository.ts). */
  @Column('bigint', { name: 'event_seq', default: 1 }) eventSeq!: string;
  /** Sequence of the event that last wrote step/progress/message; older events never overwrite. */
  @Column('bigint', { name: 'progress_seq', default: 0 }) progressSeq!: string;
  @Column('timestamptz', { name: 'dispatched_at', default: () => 'now()' }) dispatchedAt!: Date;
}

/** Step and progress history: one row per lifecycle event, unique by (job, seq). */
@Entity({ name: 'job_events' })
@Index('job_events_job_seq', ['jobId', 'seq'], { unique: true })
export class JobEventEntity {
  @PrimaryGeneratedColumn('increment', { type: 'bigint' }) id!: string;
  @Column('uuid', { name: 'job_id' }) jobId!: string;
  @Column('bigint') seq!: string;
  @Column('text') event!: string;
  @Column('text') status!: JobStatus;
  @Column('text', { nullable: true }) step!: string | null;
  @Column('real') progress!: number;
  @Column('text', { nullable: true }) message!: string | null;
  @Column('int') attempt!: number;
  @Column('jsonb', { nullable: true }) error!: JobError | null;
  @Column('text', { name: 'correlation_id' }) correlationId!: string;
  @Column('timestamptz', { name: 'created_at' }) createdAt!: Date;
}

/** Transactional outbox: messages committed with the job and published by the relay. */
@Entity({ name: 'outbox' })
export class OutboxEntity {
  @PrimaryGeneratedColumn('increment', { type: 'bigint' }) id!: string;
  @Column('uuid', { name: 'job_id', nullable: true }) jobId!: string | null;
  @Column('text') exchange!: string;
  @Column('text', { name: 'routing_key' }) routingKey!: string;
  @Column('jsonb') body!: unknown;
  @Column('jsonb') properties!: Record<string, unknown>;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt!: Date;
}

/** An API key (SPEC §4): one tenant, scopes, stored as the SHA-256 of the key. */
@Entity({ name: 'api_keys' })
export class ApiKeyEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column('text') tenant!: string;
  @Column('text') name!: string;
  @Column('text', { name: 'key_hash', unique: true }) keyHash!: string;
  @Column('text', { array: true }) scopes!: string[];
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt!: Date;
  @Column('timestamptz', { name: 'revoked_at', nullable: true }) revokedAt!: Date | null;
}

/** An uploaded input file; the bytes live in the upload store, jobs reference it as `fileId`. */
@Entity({ name: 'files' })
@Index('files_tenant_created', ['tenant', 'createdAt'])
export class FileEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column('text') tenant!: string;
  @Column('text', { nullable: true }) name!: string | null;
  @Column('text', { name: 'content_type' }) contentType!: string;
  @Column('bigint') size!: string;
  @Column('text') sha256!: string;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt!: Date;
}

/** The durable (second) level of the result cache: tenant + request hash → a completed job. */
@Entity({ name: 'result_cache' })
export class ResultCacheEntity {
  @PrimaryColumn('text') tenant!: string;
  @PrimaryColumn('text', { name: 'request_hash' }) requestHash!: string;
  @Column('uuid', { name: 'job_id' }) jobId!: string;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt!: Date;
  @Column('timestamptz', { name: 'expires_at' }) expiresAt!: Date;
  @Column('bigint', { default: 0 }) hits!: string;
  @Column('timestamptz', { name: 'last_access_at', nullable: true }) lastAccessAt!: Date | null;
}

export const ENTITIES = [
  JobEntity,
  JobEventEntity,
  OutboxEntity,
  ApiKeyEntity,
  FileEntity,
  ResultCacheEntity,
];
