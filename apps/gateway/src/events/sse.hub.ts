import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { ApiError } from '@switchyard/contracts';
import { randomUUID } from 'node:crypto';
import {
  ChannelSubscriber,
  decodeJobLogEvent,
  decodeStoredEvent,
  jobLogChannel,
  LiveProgressStore,
  StreamSlots,
  type StoredJobEvent,
} from '@switchyard/live-state';
import { GATEWAY_CONFIG, LOGGER, type GatewayConfig, type Logger } from '../gateway.tokens';
import type { JobEventSink, TenantEventSink } from './sse.stream';

/** A stream slot lapses this long after its gateway last renewed it (e.g. the gateway crashed). */
export const SSE_SLOT_TTL_MS = 60000;

/**
 * Fans job events out to SSE clients: one Redis subscription per gateway process on the channel
 * the progress-tracker publishes every applied event to (LiveProgressStore), shared by all
 * streams, whatever their number. Also sends the keep-alive comments and closes every stream on
 * shutdown.
 */
@Injectable()
export class SseHub implements OnModuleInit, OnModuleDestroy, BeforeApplicationShutdown {
  private readonly byJob = new Map<string, Set<JobEventSink>>();
  private readonly tenants = new Set<TenantEventSink>();
  /** Slots this process holds: slot id → tenant. */
  private readonly slots = new Map<string, string>();
  private readonly instance = randomUUID();
  private slotSeq = 0;
  private slotRenewal: NodeJS.Timeout | undefined;
  private subscribed: Promise<void> | undefined;
  private keepAlive: NodeJS.Timeout | undefined;
  private stopReconnectListener: (() => void) | undefined;

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly subscriber: ChannelSubscriber,
    private readonly live: LiveProgressStore,
    private readonly streamSlots: StreamSlots,
  ) {}

  onModuleInit(): void {
    this.keepAlive = setInterval(() => this.sendKeepAlive(), this.config.SSE_KEEPALIVE_MS);
    this.keepAlive.unref();
    this.slotRenewal = setInterval(() => void this.renewSlots(), SSE_SLOT_TTL_MS / 3);
    this.slotRenewal.unref();
    // Events published while the subscriber was reconnecting are in the per-job logs.
    this.stopReconnectListener = this.subscriber.onReconnect(() => void this.catchUp());
  }

  onModuleDestroy(): void {
    clearInterval(this.keepAlive);
    clearInterval(this.slotRenewal);
    this.stopReconnectListener?.();
  }

  /** Shutdown: end every stream so the HTTP server can close (clients resume elsewhere). */
  beforeApplicationShutdown(): void {
    for (const sinks of this.byJob.values()) for (const sink of sinks) sink.stream.end();
    for (const sink of this.tenants) sink.stream.end();
  }

  /** Resolves once this process receives published events (subscribes on first use). */
  ready(): Promise<void> {
    this.subscribed ??= Promise.all([
      this.subscriber.subscribe(this.live.keys.channel, (message) => this.onMessage(message)),
      // Job log lines (`log` events), published by the workers after they stored them.
      this.subscriber.subscribe(jobLogChannel(this.config.REDIS_PREFIX), (message) => this.onLog(message)),
    ])
      .then(() => undefined)
      .catch((error: unknown) => {
        this.subscribed = undefined;
        this.logger.warn({ err: error }, 'could not subscribe to job events');
        throw new ApiError('service_unavailable', 'live events are unavailable (Redis)', [], {
          'retry-after': '5',
        });
      });
    return this.subscribed;
  }

  /**
   * Takes one of the tenant's SSE_MAX_STREAMS_PER_TENANT stream slots, counted across every
   * gateway in Redis; throws 429 `rate_limited` when all are held, 503 when Redis is away.
   * Returns the release, to call once when the stream closes.
   */
  async reserve(tenant: string): Promise<() => void> {
    const slot = `${this.instance}:${++this.slotSeq}`;
    const max = this.config.SSE_MAX_STREAMS_PER_TENANT;
    let acquired: boolean;
    try {
      acquired = await this.streamSlots.acquire(tenant, slot, max);
    } catch (error) {
      this.logger.warn({ err: error }, 'could not take an event stream slot');
      throw new ApiError('service_unavailable', 'live events are unavailable (Redis)', [], {
        'retry-after': '5',
      });
    }
    if (!acquired) {
      throw new ApiError('rate_limited', `at most ${max} event streams per tenant`, [], {
        'retry-after': '5',
      });
    }
    this.slots.set(slot, tenant);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.slots.delete(slot);
      this.streamSlots.release(tenant, slot).catch((error: unknown) => {
        // The slot lapses by itself after SSE_SLOT_TTL_MS.
        this.logger.debug({ err: error }, 'could not release an event stream slot');
      });
    };
  }

  /** Streams this process holds slots for (what it renews). */
  slotCount(): number {
    return this.slots.size;
  }

  private async renewSlots(): Promise<void> {
    if (this.slots.size === 0) return;
    const byTenant = new Map<string, string[]>();
    for (const [slot, tenant] of this.slots) {
      let ids = byTenant.get(tenant);
      if (!ids) byTenant.set(tenant, (ids = []));
      ids.push(slot);
    }
    try {
      await this.streamSlots.refresh(byTenant);
    } catch (error) {
      this.logger.warn({ err: error }, 'could not renew event stream slots');
    }
  }

  addJobSink(sink: JobEventSink): void {
    let sinks = this.byJob.get(sink.jobId);
    if (!sinks) this.byJob.set(sink.jobId, (sinks = new Set()));
    sinks.add(sink);
    sink.stream.onClose(() => {
      sinks.delete(sink);
      if (sinks.size === 0 && this.byJob.get(sink.jobId) === sinks) this.byJob.delete(sink.jobId);
    });
  }

  addTenantSink(sink: TenantEventSink): void {
    this.tenants.add(sink);
    sink.stream.onClose(() => this.tenants.delete(sink));
  }

  streamCount(): number {
    let count = this.tenants.size;
    for (const sinks of this.byJob.values()) count += sinks.size;
    return count;
  }

  private onMessage(message: string): void {
    if (this.byJob.size === 0 && this.tenants.size === 0) return;
    const event = decodeStoredEvent(message);
    if (!event) return;
    const sinks = this.byJob.get(event.data.jobId);
    if (sinks) for (const sink of sinks) sink.push(event);
    if (this.tenants.size) this.toTenants(event);
  }

  private onLog(message: string): void {
    if (this.byJob.size === 0) return;
    const event = decodeJobLogEvent(message);
    const sinks = event && this.byJob.get(event.jobId);
    if (sinks) for (const sink of sinks) sink.pushLog(event);
  }

  private toTenants(event: StoredJobEvent): void {
    for (const sink of this.tenants) if (sink.matches(event)) sink.push(event);
  }

  private sendKeepAlive(): void {
    for (const sinks of this.byJob.values()) for (const sink of sinks) sink.stream.comment('keep-alive');
    for (const sink of this.tenants) sink.stream.comment('keep-alive');
  }

  private async catchUp(): Promise<void> {
    const jobs = [...this.byJob.entries()];
    for (const [jobId, sinks] of jobs) {
      try {
        const events = await this.live.readEvents(jobId);
        for (const sink of sinks) sink.replay(events);
      } catch (error) {
        this.logger.debug({ err: error, jobId }, 'SSE catch-up after reconnect failed');
      }
    }
  }
}
