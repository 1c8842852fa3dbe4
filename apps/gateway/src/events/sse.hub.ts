import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { ApiError } from '@switchyard/contracts';
import {
  ChannelSubscriber,
  decodeStoredEvent,
  LiveProgressStore,
  type StoredJobEvent,
} from '@switchyard/live-state';
import { GATEWAY_CONFIG, LOGGER, type GatewayConfig, type Logger } from '../gateway.tokens';
import type { JobEventSink, TenantEventSink } from './sse.stream';

/** SSE clients one API key may hold open at once (DESIGN.md: bound everything). */
export const SSE_MAX_STREAMS_PER_KEY = 1000;

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
  private readonly perKey = new Map<string, number>();
  private subscribed: Promise<void> | undefined;
  private keepAlive: NodeJS.Timeout | undefined;
  private stopReconnectListener: (() => void) | undefined;

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly subscriber: ChannelSubscriber,
    private readonly live: LiveProgressStore,
  ) {}

  onModuleInit(): void {
    this.keepAlive = setInterval(() => this.sendKeepAlive(), this.config.SSE_KEEPALIVE_MS);
    this.keepAlive.unref();
    // Events published while the subscriber was reconnecting are in the per-job logs.
    this.stopReconnectListener = this.subscriber.onReconnect(() => void this.catchUp());
  }

  onModuleDestroy(): void {
    clearInterval(this.keepAlive);
    this.stopReconnectListener?.();
  }

  /** Shutdown: end every stream so the HTTP server can close (clients resume elsewhere). */
  beforeApplicationShutdown(): void {
    for (const sinks of this.byJob.values()) for (const sink of sinks) sink.stream.end();
    for (const sink of this.tenants) sink.stream.end();
  }

  /** Resolves once this process receives published events (subscribes on first use). */
  ready(): Promise<void> {
    this.subscribed ??= this.subscriber
      .subscribe(this.live.keys.channel, (message) => this.onMessage(message))
      .catch((error: unknown) => {
        this.subscribed = undefined;
        this.logger.warn({ err: error }, 'could not subscribe to job events');
        throw new ApiError('service_unavailable', 'live events are unavailable (Redis)', [], {
          'retry-after': '5',
        });
      });
    return this.subscribed;
  }

  /** Throws 429 when the key already holds SSE_MAX_STREAMS_PER_KEY streams. */
  reserve(keyId: string): void {
    const open = this.perKey.get(keyId) ?? 0;
    if (open >= SSE_MAX_STREAMS_PER_KEY) {
      throw new ApiError('rate_limited', `at most ${SSE_MAX_STREAMS_PER_KEY} event streams per API key`, [], {
        'retry-after': '5',
      });
    }
    this.perKey.set(keyId, open + 1);
  }

  release(keyId: string): void {
    const open = (this.perKey.get(keyId) ?? 1) - 1;
    if (open > 0) this.perKey.set(keyId, open);
    else this.perKey.delete(keyId);
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
